package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/otaudit/otaudit/agent"
	"github.com/otaudit/otaudit/agent/api"
)

// ---- agent run

type agentRunOptions struct {
	g           *globalOptions
	io          streams
	Listen      string
	TokenFile   string
	TLSCert     string
	TLSKey      string
	StopTimeout time.Duration

	// reload replaces SIGHUP (tests); ready hears the API's address once
	// it listens (tests, port 0).
	reload <-chan struct{}
	ready  func(net.Addr)
}

func newAgentCmd(g *globalOptions, io streams) *cobra.Command {
	cmd := &cobra.Command{Use: "agent", Short: "Run otaudit as a resident agent", Args: noArgs,
		RunE: func(*cobra.Command, []string) error {
			return usageError{errors.New("agent: name a subcommand (run)")}
		}}
	o := &agentRunOptions{g: g, io: io}
	run := &cobra.Command{
		Use:   "run --config zone.yaml --token-file FILE [--listen 127.0.0.1:9723]",
		Short: "Scan the zone on its schedule and serve the read-only API and /metrics until stopped",
		Long: `Runs until stopped (SIGTERM, Ctrl-C). Scans the zone on the configuration's
schedule (schedule.interval, or a 5-field schedule.cron in UTC): passive runs
read the configured capture files (for a directory, only files not read
before), active runs happen only inside the maintenance windows when the zone
declares any. After each scan the results are queued for delivery to the
configured export targets.

Serves a read-only HTTP API (/api/v1/assets, findings, findings/{id}, scores,
scans, baseline, report) and Prometheus /metrics; every request needs
"Authorization: Bearer <token>" with the token from --token-file (mode 0600 or
stricter). Listens on 127.0.0.1 unless told otherwise, and refuses any other
address without --tls-cert and --tls-key.

SIGHUP reloads the configuration; an invalid one is logged and the running
one kept. On SIGTERM the scan in progress is committed or marked interrupted.`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if o.TokenFile == "" {
				return usageError{errors.New("agent run: --token-file is required (create one with: umask 077; openssl rand -hex 32 > api-token)")}
			}
			if o.StopTimeout <= 0 {
				return usageError{errors.New("agent run: --stop-timeout must be positive")}
			}
			// A daemon's log is its only voice: info unless told otherwise.
			if f := cmd.Flag("log-level"); f != nil && !f.Changed {
				g := *o.g
				g.LogLevel = "info"
				o.g = &g
			}
			return runAgent(cmd.Context(), o)
		},
	}
	f := run.Flags()
	f.StringVar(&o.Listen, "listen", api.DefaultListen, "API address HOST:PORT (anything but loopback needs --tls-cert and --tls-key)")
	f.StringVar(&o.TokenFile, "token-file", "", "file holding the API bearer token (mode 0600 or stricter; required)")
	f.StringVar(&o.TLSCert, "tls-cert", "", "PEM certificate for the API")
	f.StringVar(&o.TLSKey, "tls-key", "", "PEM private key of --tls-cert")
	f.DurationVar(&o.StopTimeout, "stop-timeout", 30*time.Second, "on SIGTERM, how long to wait for the scan in progress to commit before exiting anyway")
	cmd.AddCommand(run)
	return cmd
}

// runAgent runs the daemon and its API until ctx ends. Everything that can
// be wrong with the command line or the files it names is checked before
// the first scan: the listen address, the token file, the configuration.
func runAgent(ctx context.Context, o *agentRunOptions) error {
	listen := api.ListenConfig{Addr: o.Listen, TLSCert: o.TLSCert, TLSKey: o.TLSKey}
	if err := listen.Check(); err != nil {
		return err
	}
	token, err := api.LoadToken(o.TokenFile)
	if err != nil {
		return err
	}
	a, err := o.g.newAgent(o.io, true)
	if err != nil {
		return err
	}
	if _, err := a.Zone(); err != nil {
		return err
	}
	log := a.Logger
	d := agent.NewDaemon(a, o.g.Config)
	metrics := api.NewMetrics(d, log)
	d.OnRun = metrics.ObserveRun
	handler := api.NewHandler(api.Config{Source: d, Token: token, Metrics: metrics, Logger: log})

	// SIGHUP is caught before anything can announce the agent: its default
	// action would end the process.
	reload := o.reload
	if reload == nil {
		hup := make(chan os.Signal, 1)
		signal.Notify(hup, syscall.SIGHUP)
		defer signal.Stop(hup)
		fwd := make(chan struct{}, 1)
		go func() {
			for {
				select {
				case <-ctx.Done():
					return
				case <-hup:
					select {
					case fwd <- struct{}{}:
					default: // a reload is already pending
					}
				}
			}
		}()
		reload = fwd
	}

	ln, err := api.Listen(ctx, listen)
	if err != nil {
		return err
	}
	srv := api.NewServer(handler, log)
	serveErr := make(chan error, 1)
	go func() { serveErr <- srv.Serve(ln) }()
	log.Info("agent API listening", "addr", ln.Addr().String(), "tls", o.TLSCert != "", "db", a.DBPath)
	if o.ready != nil {
		o.ready(ln.Addr())
	}

	runCtx, stopDaemon := context.WithCancelCause(ctx)
	defer stopDaemon(nil)
	done := make(chan error, 1)
	go func() { done <- d.Run(runCtx, reload) }()

	var runErr error
	select {
	case runErr = <-done:
	case err := <-serveErr:
		// The API failed: stop scanning too, so that a supervisor restarts
		// the whole agent rather than leave it half alive.
		runErr = fmt.Errorf("agent API: %w", err)
		stopDaemon(runErr)
		if werr := waitStopped(done, o.StopTimeout); werr != nil {
			runErr = errors.Join(runErr, werr)
		}
	case <-ctx.Done():
		log.Info("agent stop requested; finishing the scan in progress", "cause", context.Cause(ctx))
		runErr = waitStopped(done, o.StopTimeout)
	}

	shutdownCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	if err := srv.Shutdown(shutdownCtx); err != nil && !errors.Is(err, http.ErrServerClosed) {
		log.Warn("agent API did not shut down cleanly", "error", err)
	}
	if runErr == nil {
		log.Info("agent stopped")
	}
	return runErr
}

// waitStopped waits up to timeout for the daemon to return once asked to
// stop. Past it the process exits anyway: the next writable open of the
// store marks a scan left running as incomplete.
func waitStopped(done <-chan error, timeout time.Duration) error {
	t := time.NewTimer(timeout)
	defer t.Stop()
	select {
	case err := <-done:
		return err
	case <-t.C:
		return fmt.Errorf("agent: the scan in progress did not stop within %s; exiting anyway (the store marks it incomplete on next open)", timeout)
	}
}
