package main

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/otaudit/otaudit/agent"
	"github.com/otaudit/otaudit/configs"
)

// liveOptions are the flags of `otaudit scan --interface IFACE --duration D`:
// a passive scan of live traffic instead of capture files.
type liveOptions struct {
	Interface   string
	Duration    time.Duration
	FullPayload bool
	Backend     string
}

func addLiveFlags(cmd *cobra.Command, o *liveOptions) {
	cmd.Flags().StringVar(&o.Interface, "interface", "", "capture live on this interface (SPAN/mirror port; needs CAP_NET_RAW; sends nothing)")
	cmd.Flags().DurationVar(&o.Duration, "duration", 0, "how long to capture with --interface (e.g. 10m)")
	cmd.Flags().BoolVar(&o.FullPayload, "full-payload", false, "with --interface: deliver every frame whole (by default frames of ports no decoder reads are cut to their headers in the kernel)")
	cmd.Flags().StringVar(&o.Backend, "capture-backend", "", "with --interface: socket (pure Go) or afpacket (shared-memory ring, only in builds with -tags afpacket); default: the configuration's capture.backend, else socket")
}

func (o *liveOptions) validate(s *scanOptions) error {
	if o.Interface == "" {
		switch {
		case o.Duration != 0:
			return usageError{errors.New("--duration needs --interface")}
		case o.FullPayload:
			return usageError{errors.New("--full-payload needs --interface")}
		case o.Backend != "":
			return usageError{errors.New("--capture-backend needs --interface")}
		}
		return nil
	}
	switch {
	case len(s.Pcaps) > 0:
		return usageError{errors.New("--interface and --pcap are separate scans: run one, then the other")}
	case s.Active.Enabled:
		return usageError{errors.New("--interface (passive) and --active are separate scans: run one, then the other")}
	case o.Duration <= 0:
		return usageError{errors.New("--interface needs --duration (how long to capture, e.g. 10m)")}
	case o.Backend != "" && !slices.Contains(configs.CaptureBackends, o.Backend):
		return usageError{fmt.Errorf("--capture-backend %q: want one of %s", o.Backend, strings.Join(configs.CaptureBackends, ", "))}
	}
	return nil
}

func runLiveScan(ctx context.Context, o *scanOptions) error {
	a, err := o.g.newAgent(o.io, true)
	if err != nil {
		return err
	}
	res, scanErr := a.LiveScan(ctx, agent.LiveRequest{Interface: o.Live.Interface, Duration: o.Live.Duration, FullPayload: o.Live.FullPayload, Backend: o.Live.Backend})
	if res == nil {
		return scanErr
	}
	if o.g.JSON {
		if err := writeJSON(o.io.Out, scanOutput(res)); err != nil {
			return err
		}
	} else {
		printScan(o.io.Out, res, a.DBPath)
	}
	if scanErr != nil {
		return scanErr
	}
	return failOn(o.FailOn, res.Report.Findings)
}
