// Command churn turns transaction exports into switching-risk scores and a
// perk plan. See the README for the flow; each subcommand is in its own file.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"os/signal"
	"runtime/debug"
	"sort"
	"strings"
	"syscall"
	"time"

	"github.com/churnhq/churn/pipeline"
	"github.com/churnhq/churn/pipeline/ingest"
	"github.com/churnhq/churn/pipeline/night"
	"github.com/churnhq/churn/pipeline/perkplan"
	"github.com/churnhq/churn/pipeline/warehouse"

	"github.com/spf13/pflag"
)

// version is set at build time with -ldflags "-X main.version=…".
var version = "0.1.0-dev"

// Exit codes, as documented in the README.
const (
	exitOK      = 0
	exitFailed  = 1
	exitUsage   = 2
	exitQuality = 3
	exitStale   = 4
)

// usageError is a mistake on the command line: exit 2, with the usage hint.
type usageError struct{ msg string }

func (e *usageError) Error() string { return e.msg }

func usagef(format string, args ...any) error {
	return &usageError{msg: fmt.Sprintf(format, args...)}
}

// env is what a subcommand may touch of the process.
type env struct {
	stdout, stderr io.Writer
	log            *slog.Logger
}

type command struct {
	name    string
	summary string
	run     func(ctx context.Context, e *env, args []string) error
}

var commands = []command{
	{"ingest", "load transaction exports into the warehouse", runIngest},
	{"features", "per-customer RFM and BTYD features for an as-of date", runFeatures},
	{"fit", "fit BG/NBD, Pareto/NBD or MBG/NBD and Gamma-Gamma for an as-of date", runFit},
	{"backtest", "fit on data to a cutoff and check the predictions on the holdout", runBacktest},
	{"recommend", "choose a perk per at-risk customer under a budget; plan.csv", runRecommend},
	{"run", "the nightly job: ingest, features, fit, score, backtest, recommend, exports, report", runRun},
	{"report", "redraw report.html of a run", runReport},
	{"export", "write a run's CRM feed into a PostgreSQL table (upserts, tombstones)", runExport},
	{"evaluate", "judge a past plan: each perk's treated customers against its own controls", runEvaluate},
	{"score", "P(alive), churn risk, expected purchases and CLV per customer; CRM feed", runScore},
	{"datasets", "write the bundled CDNOW data or a synthetic export", runDatasets},
}

func main() {
	// The batch jobs hold large aggregates for their whole run: the Go
	// default of 100 % heap growth before a collection would double their
	// peak memory for no gain. GOGC, when set, still decides.
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(50)
	}
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	// Global flags may come before the subcommand or after it (up to a
	// "--"); everything else after the subcommand is the subcommand's.
	logFormat, logLevel := "text", "info"
	var rest []string
	seenCommand, literal := false, false
	for i := 0; i < len(args); i++ {
		a := args[i]
		switch {
		case literal:
			rest = append(rest, a)
		case seenCommand && a == "--":
			literal = true
			rest = append(rest, a)
		case !seenCommand && (a == "--version" || a == "version"):
			fmt.Fprintf(stdout, "churn %s\n", version)
			return exitOK
		case !seenCommand && (a == "-h" || a == "--help" || a == "help"):
			if a == "help" && i+1 < len(args) {
				return run([]string{args[i+1], "--help"}, stdout, stderr)
			}
			printUsage(stdout)
			return exitOK
		case strings.HasPrefix(a, "--log-format="):
			logFormat = strings.TrimPrefix(a, "--log-format=")
		case a == "--log-format" && i+1 < len(args):
			logFormat = args[i+1]
			i++
		case strings.HasPrefix(a, "--log-level="):
			logLevel = strings.TrimPrefix(a, "--log-level=")
		case a == "--log-level" && i+1 < len(args):
			logLevel = args[i+1]
			i++
		default:
			seenCommand = true
			rest = append(rest, a)
		}
	}
	log, err := newLogger(stderr, logFormat, logLevel)
	if err != nil {
		fmt.Fprintf(stderr, "churn: %v\n", err)
		return exitUsage
	}
	if len(rest) == 0 {
		printUsage(stderr)
		return exitUsage
	}
	var cmd *command
	for i := range commands {
		if commands[i].name == rest[0] {
			cmd = &commands[i]
		}
	}
	if cmd == nil {
		fmt.Fprintf(stderr, "churn: unknown command %q\n\n", rest[0])
		printUsage(stderr)
		return exitUsage
	}
	e := &env{stdout: stdout, stderr: stderr, log: log}
	err = cmd.run(ctx, e, rest[1:])
	code := exitCode(err)
	if code != exitOK {
		printError(stderr, log, logFormat, cmd.name, err, code)
	}
	return code
}

// exitCode is the one place that maps errors to exit codes.
func exitCode(err error) int {
	var ue *usageError
	switch {
	case err == nil, errors.Is(err, pflag.ErrHelp):
		return exitOK
	case errors.As(err, &ue), errors.Is(err, warehouse.ErrOption), errors.Is(err, ingest.ErrColumns), errors.Is(err, ingest.ErrUnknownFormat), errors.Is(err, perkplan.ErrCatalog), errors.Is(err, perkplan.ErrCampaigns):
		return exitUsage
	case errors.Is(err, ingest.ErrTooManyBad):
		return exitQuality
	case errors.Is(err, pipeline.ErrStale):
		return exitStale
	}
	return exitFailed
}

// printError tells why a command failed: a plain line (with the usage hint
// for usage errors), or with --log-format json one JSON log record, so a
// log collector parses the last line like every other.
func printError(stderr io.Writer, log *slog.Logger, format, name string, err error, code int) {
	if format == "json" {
		log.Error("command failed", "command", name, "exit_code", code, "err", err.Error())
		return
	}
	fmt.Fprintf(stderr, "churn %s: %v\n", name, err)
	if code == exitUsage {
		fmt.Fprintf(stderr, "Run 'churn %s --help' for usage.\n", name)
	}
}

func newLogger(w io.Writer, format, level string) (*slog.Logger, error) {
	var lv slog.Level
	if err := lv.UnmarshalText([]byte(level)); err != nil {
		return nil, fmt.Errorf("--log-level %q: want debug, info, warn or error", level)
	}
	opts := &slog.HandlerOptions{Level: lv}
	switch format {
	case "text":
		return slog.New(slog.NewTextHandler(w, opts)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(w, opts)), nil
	}
	return nil, fmt.Errorf("--log-format %q: want text or json", format)
}

func printUsage(w io.Writer) {
	fmt.Fprintf(w, `churn %s — switching-risk scores and perk plans from transaction exports

Usage:
  churn [--log-format text|json] [--log-level info] <command> [flags]

Commands:
`, version)
	names := make([]string, 0, len(commands))
	for _, c := range commands {
		names = append(names, fmt.Sprintf("  %-10s %s", c.name, c.summary))
	}
	sort.Strings(names)
	fmt.Fprintln(w, strings.Join(names, "\n"))
	fmt.Fprint(w, `
Run 'churn <command> --help' for a command's flags and examples.
Exit codes: 0 done, 1 failed, 2 usage error, 3 data-quality limit exceeded.
`)
}

// newFlagSet makes a subcommand's flag set with a usage text and examples.
func newFlagSet(e *env, name, synopsis, examples string) *pflag.FlagSet {
	fs := pflag.NewFlagSet("churn "+name, pflag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.SortFlags = false
	fs.Usage = func() {
		fmt.Fprintf(e.stdout, "Usage: churn %s %s\n\nFlags:\n%s\nExamples:\n%s", name, synopsis, fs.FlagUsages(), examples)
	}
	return fs
}

// lockWarehouse takes the writer lock of the warehouse in dir for a command.
func lockWarehouse(dir, command string) (*warehouse.Warehouse, func(), error) {
	lock, err := warehouse.AcquireLock(dir, command)
	if err != nil {
		return nil, nil, err
	}
	return &warehouse.Warehouse{Dir: dir}, func() { lock.Release() }, nil
}

// openReader opens the warehouse in dir for a command that only reads it:
// no lock, nothing recovered or written. Its scans see the committed
// manifest, so a writer at work meanwhile changes nothing they read.
func openReader(dir string) (*warehouse.Warehouse, error) {
	st, err := os.Stat(dir)
	if err != nil {
		return nil, err
	}
	if !st.IsDir() {
		return nil, fmt.Errorf("%s is not a warehouse directory", dir)
	}
	return &warehouse.Warehouse{Dir: dir}, nil
}

// notWritable reports whether taking the lock failed because the
// warehouse cannot be written (a read-only mount, no permission) or
// another writer holds it: a command that can do with reading carries on.
func notWritable(err error) bool {
	return errors.Is(err, fs.ErrPermission) || errors.Is(err, syscall.EROFS) || errors.Is(err, warehouse.ErrLocked)
}

// lockFittedRun takes the writer lock for a command that works on a fitted
// run: it returns the warehouse, the run directory of asOf and its
// model.json; without a model the error says what to run first (hint).
func lockFittedRun(data, command string, asOf time.Time, hint string) (*warehouse.Warehouse, func(), string, *night.ModelFile, error) {
	w, release, err := lockWarehouse(data, command)
	if err != nil {
		return nil, nil, "", nil, err
	}
	day := asOf.Format("2006-01-02")
	dir := w.RunDir(day)
	mf, err := night.ReadModelFile(dir)
	if err != nil {
		release()
		return nil, nil, "", nil, fmt.Errorf("no model for %s: %w (run %s first)", day, err, hint)
	}
	return w, release, dir, mf, nil
}

// parseFlags parses args, turning flag errors into usage errors and --help into ErrHelp.
func parseFlags(fs *pflag.FlagSet, args []string) error {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, pflag.ErrHelp) {
			return pflag.ErrHelp // pflag has printed the usage
		}
		return usagef("%v", err)
	}
	return nil
}
