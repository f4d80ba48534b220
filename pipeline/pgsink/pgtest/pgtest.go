// Package pgtest gives tests a real PostgreSQL server: $CHURN_TEST_PG_URL
// when set, else a temporary cluster of the installed PostgreSQL (initdb
// and pg_ctl, from /usr/lib/postgresql/*/bin or $PATH) on a free loopback
// port, stopped when the tests end. As root it runs the server as the
// postgres user, which PostgreSQL requires. Without a server the tests
// skip with a message, except under CI=true, where they fail.
package pgtest

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/jackc/pgx/v5"
)

var (
	once    sync.Once
	baseURL string
	why     string // why there is no server
	stop    func()
	dbs     atomic.Int64
)

// Main runs the tests of a package and then stops the server it started.
func Main(m *testing.M) {
	code := m.Run()
	Stop()
	os.Exit(code)
}

// Stop stops the server this process started, if any.
func Stop() {
	if stop != nil {
		stop()
		stop = nil
	}
}

// Database creates a new empty database on the server and returns its
// URL; without a server the test is skipped, or fails under CI=true.
func Database(t testing.TB) string {
	t.Helper()
	url, err := NewDatabase()
	switch {
	case err == nil:
		return url
	case errors.Is(err, ErrNoServer) && os.Getenv("CI") != "true":
		t.Skipf("%v (install PostgreSQL, or set CHURN_TEST_PG_URL)", err)
	default:
		t.Fatalf("%v", err)
	}
	return ""
}

// ErrNoServer is NewDatabase's error when no server can be had.
var ErrNoServer = errors.New("no PostgreSQL server for the tests")

// NewDatabase creates a new empty database and returns its URL.
func NewDatabase() (string, error) {
	once.Do(start)
	if baseURL == "" {
		return "", fmt.Errorf("%w: %s", ErrNoServer, why)
	}
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, baseURL)
	if err != nil {
		return "", fmt.Errorf("test server: %w", err)
	}
	defer conn.Close(ctx)
	name := fmt.Sprintf("churn_test_%d_%d", os.Getpid(), dbs.Add(1))
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+name); err != nil {
		return "", fmt.Errorf("test server: %w", err)
	}
	return withDatabase(baseURL, name), nil
}

func withDatabase(url, db string) string {
	i := strings.LastIndex(url, "/")
	q := ""
	if j := strings.Index(url[i:], "?"); j >= 0 {
		q = url[i+j:]
	}
	return url[:i+1] + db + q
}

func start() {
	if u := os.Getenv("CHURN_TEST_PG_URL"); u != "" {
		baseURL = u
		return
	}
	bin := findBin()
	if bin == "" {
		why = "initdb and pg_ctl not found under /usr/lib/postgresql/*/bin or on PATH"
		return
	}
	// As root the server runs as postgres, which must reach the directory:
	// under /tmp, whatever $TMPDIR is (a root-only one would lock it out).
	parent := ""
	if os.Geteuid() == 0 {
		parent = "/tmp"
	}
	dir, err := os.MkdirTemp(parent, "churn-pg-")
	if err != nil {
		why = err.Error()
		return
	}
	var asUser []string
	if os.Geteuid() == 0 {
		u, err := user.Lookup("postgres")
		if err != nil {
			why = "running as root and there is no postgres user to run the server as"
			return
		}
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		if err := os.Chown(dir, uid, gid); err != nil {
			why = err.Error()
			return
		}
		asUser = []string{"runuser", "-u", "postgres", "--"}
	}
	run := func(args ...string) error {
		full := append(append([]string(nil), asUser...), args...)
		out, err := exec.Command(full[0], full[1:]...).CombinedOutput()
		if err != nil {
			return fmt.Errorf("%s: %v: %s", strings.Join(args, " "), err, out)
		}
		return nil
	}
	data := filepath.Join(dir, "data")
	if err := run(filepath.Join(bin, "initdb"), "-D", data, "-A", "trust", "-U", "churn", "-E", "UTF8", "--locale=C", "--no-sync"); err != nil {
		why = err.Error()
		return
	}
	port, err := freePort()
	if err != nil {
		why = err.Error()
		return
	}
	opts := fmt.Sprintf("-p %d -k %s -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off -c full_page_writes=off", port, dir)
	if err := run(filepath.Join(bin, "pg_ctl"), "-D", data, "-o", opts, "-l", filepath.Join(dir, "log"), "-w", "start"); err != nil {
		why = err.Error()
		return
	}
	stop = func() {
		run(filepath.Join(bin, "pg_ctl"), "-D", data, "-m", "immediate", "stop")
		os.RemoveAll(dir)
	}
	baseURL = fmt.Sprintf("postgres://churn@127.0.0.1:%d/postgres?sslmode=disable", port)
}

func findBin() string {
	if dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin"); len(dirs) > 0 {
		sort.Slice(dirs, func(i, j int) bool { return version(dirs[i]) > version(dirs[j]) })
		for _, d := range dirs {
			if _, err := os.Stat(filepath.Join(d, "initdb")); err == nil {
				return d
			}
		}
	}
	if p, err := exec.LookPath("initdb"); err == nil {
		return filepath.Dir(p)
	}
	return ""
}

func version(binDir string) int {
	v, _ := strconv.Atoi(filepath.Base(filepath.Dir(binDir)))
	return v
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}
