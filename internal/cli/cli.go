// Package cli implements the tally command: serve, admin and upload. Run is
// the whole program; main only wires it to the process.
package cli

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
)

// Run runs the tally command with args (without the program name).
func Run(ctx context.Context, args []string, getenv func(string) string, stdin io.Reader, stdout, stderr io.Writer) error {
	env := &environment{getenv: getenv, stdin: stdin, stdout: stdout, stderr: stderr}
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return errors.New("no command given")
	}
	switch args[0] {
	case "serve":
		return runServe(ctx, args[1:], env)
	case "admin":
		return runAdmin(ctx, args[1:], env)
	case "upload":
		return runUpload(ctx, args[1:], env)
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
		return nil
	default:
		fmt.Fprint(stderr, usage)
		return fmt.Errorf("unknown command %q", args[0])
	}
}

const usage = `usage: tally <command> [flags]

commands:
  serve                 run the server (--addr, --db; see tally serve -h)
  admin create-org      create an organization and its administrator
  admin create-user     add a user to an organization
  admin grant           give an existing user one more role
  admin rotate-key      replace a user's key
  admin set-inhouse     mark libraries matching a pattern as in-house
  admin set-webhook     send project setup events to a URL, signed
  admin outbox          list recent notifications and their delivery
  upload                upload a CycloneDX or SPDX JSON SBOM
`

type environment struct {
	getenv         func(string) string
	stdin          io.Reader
	stdout, stderr io.Writer
}

// envOr returns the environment variable's value, or def when unset.
func (e *environment) envOr(name, def string) string {
	if v := e.getenv(name); v != "" {
		return v
	}
	return def
}

func (e *environment) newFlags(name string) *flag.FlagSet {
	fs := flag.NewFlagSet("tally "+name, flag.ContinueOnError)
	fs.SetOutput(e.stderr)
	return fs
}

func (e *environment) printJSON(v any) error {
	enc := json.NewEncoder(e.stdout)
	enc.SetIndent("", "  ")
	if err := enc.Encode(v); err != nil {
		return fmt.Errorf("write json: %w", err)
	}
	return nil
}

// defaultDB is where the embedded database lives unless told otherwise.
const defaultDB = "./tally-data/tally.db"

func (e *environment) dbFlag(fs *flag.FlagSet) *string {
	return fs.String("db", e.envOr("TALLY_DB", defaultDB), "database: a SQLite file path or a postgres://user:pass@host:5432/db URL (env TALLY_DB)")
}

func required(pairs ...string) error {
	var missing []string
	for i := 0; i+1 < len(pairs); i += 2 {
		if strings.TrimSpace(pairs[i+1]) == "" {
			missing = append(missing, "--"+pairs[i])
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("missing %s", strings.Join(missing, ", "))
	}
	return nil
}
