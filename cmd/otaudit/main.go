// Command otaudit audits an OT zone against IEC 62443: it reads captures
// (and, later, asks devices), keeps assets, observations and findings in a
// local store, and prints, scores and exports them.
//
// This package parses flags, builds an agent and maps errors to exit codes.
// Nothing else lives here.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], newStreams(os.Stdout, os.Stderr))
	stop()
	os.Exit(code)
}
