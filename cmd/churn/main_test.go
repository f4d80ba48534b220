package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/churnhq/churn/pipeline/pgsink/pgtest"

	"github.com/jackc/pgx/v5"
	"github.com/rogpeppe/go-internal/testscript"
)

// stopServer stops the tests' PostgreSQL server after the tests.
type stopServer struct{ m *testing.M }

func (s stopServer) Run() int {
	code := s.m.Run()
	pgtest.Stop()
	return code
}

func TestMain(m *testing.M) {
	testscript.Main(stopServer{m}, map[string]func(){
		"churn": func() { os.Exit(run(os.Args[1:], os.Stdout, os.Stderr)) },
	})
}

// TestScripts runs the end-to-end CLI cases in testdata/script/*.txtar.
func TestScripts(t *testing.T) {
	testscript.Run(t, testscript.Params{
		Dir:           "testdata/script",
		UpdateScripts: os.Getenv("UPDATE_SCRIPTS") == "1",
		Cmds:          map[string]func(*testscript.TestScript, bool, []string){"cmpcustomers": cmpCustomers},
	})
}

// TestPostgresScripts runs testdata/postgres/*.txtar against a real
// PostgreSQL server, each script with a new database in $PGURL.
func TestPostgresScripts(t *testing.T) {
	if _, err := pgtest.NewDatabase(); errors.Is(err, pgtest.ErrNoServer) && os.Getenv("CI") != "true" {
		t.Skipf("%v (install PostgreSQL, or set CHURN_TEST_PG_URL)", err)
	} else if err != nil {
		t.Fatal(err)
	}
	testscript.Run(t, testscript.Params{
		Dir: "testdata/postgres",
		Setup: func(env *testscript.Env) error {
			url, err := pgtest.NewDatabase()
			if err != nil {
				return err
			}
			env.Setenv("PGURL", url)
			return nil
		},
		Cmds: map[string]func(*testscript.TestScript, bool, []string){"pgcheck": pgCheck},
	})
}

// pgCheck is the script command "pgcheck SQL WANT": the query's single
// value, as text, is WANT.
func pgCheck(ts *testscript.TestScript, neg bool, args []string) {
	if len(args) != 2 {
		ts.Fatalf("usage: pgcheck SQL WANT")
	}
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, ts.Getenv("PGURL"))
	if err != nil {
		ts.Fatalf("pgcheck: %v", err)
	}
	defer conn.Close(ctx)
	var got any
	if err := conn.QueryRow(ctx, args[0]).Scan(&got); err != nil {
		ts.Fatalf("pgcheck %q: %v", args[0], err)
	}
	s := strings.TrimSpace(fmt.Sprint(got))
	if (s == args[1]) == neg {
		ts.Fatalf("pgcheck %q: got %s, want %s%s", args[0], s, map[bool]string{true: "not "}[neg], args[1])
	}
}
