package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/otaudit/otaudit/agent"
	"github.com/otaudit/otaudit/configs"
)

// Exit codes, documented in the README.
const (
	exitOK       = 0
	exitError    = 1
	exitUsage    = 2
	exitFindings = 3
)

// version is set by the linker (-X main.version=...).
var version = "dev"

// streams are where a command writes; tests pass buffers.
type streams struct {
	Out, Err io.Writer
	// Terminal: Out is an interactive terminal (tables, not JSON, by default).
	Terminal bool
}

func newStreams(out, errw *os.File) streams {
	fi, err := out.Stat()
	return streams{Out: out, Err: errw, Terminal: err == nil && fi.Mode()&os.ModeCharDevice != 0}
}

// globalOptions are the flags every command takes.
type globalOptions struct {
	DB          string
	Config      string
	JSON        bool
	LogLevel    string
	LockTimeout time.Duration
}

// usageError marks a mistake in the command line (exit 2).
type usageError struct{ err error }

func (e usageError) Error() string { return e.err.Error() }
func (e usageError) Unwrap() error { return e.err }

// exitCoder is an error that chooses its own exit code.
type exitCoder interface{ ExitCode() int }

// findingsError marks findings at or above --fail-on (exit 3).
type findingsError struct{ count int }

func (e findingsError) ExitCode() int { return exitFindings }

func (e findingsError) Error() string {
	return fmt.Sprintf("%d open finding(s) at or above the --fail-on severity", e.count)
}

func run(ctx context.Context, args []string, io streams) int {
	root := newRootCmd(io)
	root.SetArgs(args)
	err := root.ExecuteContext(ctx)
	if err == nil {
		return exitOK
	}
	var ec exitCoder
	if errors.As(err, &ec) {
		fmt.Fprintln(io.Err, "otaudit:", err)
		return ec.ExitCode()
	}
	var ue usageError
	if errors.As(err, &ue) || strings.HasPrefix(err.Error(), "unknown command") ||
		strings.HasPrefix(err.Error(), "unknown flag") || strings.HasPrefix(err.Error(), "accepts ") ||
		strings.HasPrefix(err.Error(), "requires ") {
		fmt.Fprintln(io.Err, "otaudit:", err)
		fmt.Fprintln(io.Err, "Run 'otaudit --help' for usage.")
		return exitUsage
	}
	if errors.Is(err, context.Canceled) {
		fmt.Fprintln(io.Err, "otaudit: interrupted; everything committed before the interrupt is kept")
		return exitError
	}
	fmt.Fprintln(io.Err, "otaudit:", err)
	return exitError
}

func newRootCmd(io streams) *cobra.Command {
	g := &globalOptions{}
	root := &cobra.Command{
		Use:   "otaudit",
		Short: "Audit an OT zone against IEC 62443 from what is seen on the wire",
		Long: `otaudit builds the device inventory of an IACS zone from packet captures,
finds default and cleartext credentials, uncontrolled remote access, unknown
devices and unauthorised writes, traces every finding to IEC 62443-3-3, 62443-2-1
and ISO 27001, and scores the zone per security objective.

Exit codes: 0 ok, 1 error, 2 usage, 3 findings at or above --fail-on, or a
commissioning run that is not accepted.`,
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.PersistentPreRunE = func(*cobra.Command, []string) error {
		_, err := g.logger(io.Err)
		return err
	}
	root.SetOut(io.Out)
	root.SetErr(io.Err)
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return usageError{err} })
	pf := root.PersistentFlags()
	pf.StringVar(&g.DB, "db", "", "store file (default: "+defaultDBPath()+")")
	pf.StringVar(&g.Config, "config", "", "zone configuration file (default: the embedded default zone)")
	pf.BoolVar(&g.JSON, "json", false, "machine-readable JSON output")
	pf.StringVar(&g.LogLevel, "log-level", "warn", "log level: debug, info, warn, error")
	pf.DurationVar(&g.LockTimeout, "lock-timeout", 5*time.Second, "how long to wait when another otaudit process holds the store")

	root.AddCommand(
		newScanCmd(g, io, nil),
		newAssetsCmd(g, io),
		newFindingsCmd(g, io, nil),
		newScoreCmd(g, io),
		newScansCmd(g, io),
		newExportCmd(g, io, nil),
		newDemoCmd(g, io, nil),
		newConfigCmd(g, io),
		newDBCmd(g, io),
		newVersionCmd(io),
	)
	root.AddCommand(newBaselineCmd(g, io), newRegisterCmd(g, io), newChecksCmd(g, io, nil))
	root.AddCommand(newCommissionCmd(g, io, nil))
	root.AddCommand(newReportCmd(g, io, nil))
	root.AddCommand(newAgentCmd(g, io))
	root.AddCommand(newOutboxCmd(g, io))
	return root
}

// defaultDBPath is the per-user state directory's store.
func defaultDBPath() string {
	if d := os.Getenv("XDG_STATE_HOME"); d != "" {
		return filepath.Join(d, "otaudit", "otaudit.db")
	}
	if home, err := os.UserHomeDir(); err == nil {
		return filepath.Join(home, ".local", "state", "otaudit", "otaudit.db")
	}
	return "otaudit.db"
}

func (g *globalOptions) logger(w io.Writer) (*slog.Logger, error) {
	var lvl slog.Level
	if err := lvl.UnmarshalText([]byte(g.LogLevel)); err != nil {
		return nil, usageError{fmt.Errorf("--log-level %q: want debug, info, warn or error", g.LogLevel)}
	}
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: lvl})), nil
}

// newAgent builds the agent the command works with: the store file, the
// zone configuration (embedded default when none is given) and the logger.
func (g *globalOptions) newAgent(io streams, needDir bool) (*agent.Agent, error) {
	log, err := g.logger(io.Err)
	if err != nil {
		return nil, err
	}
	cfg := configs.Default()
	if g.Config != "" {
		if cfg, err = configs.Load(g.Config); err != nil {
			return nil, err
		}
	}
	db := g.DB
	if db == "" {
		db = defaultDBPath()
	}
	if needDir {
		if err := os.MkdirAll(filepath.Dir(db), 0o700); err != nil {
			return nil, fmt.Errorf("create store directory: %w", err)
		}
	}
	return &agent.Agent{Config: cfg, DBPath: db, LockTimeout: g.LockTimeout, Logger: log}, nil
}
