package agent

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/otaudit/otaudit/collectors/pcap"
	"github.com/otaudit/otaudit/configs"
)

func TestLiveWindowFollowsTheSchedule(t *testing.T) {
	now := time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)
	every10m := schedule{interval: 10 * time.Minute}
	cases := []struct {
		name   string
		window time.Duration // Daemon.LiveWindow
		sched  schedule
		want   time.Duration
	}{
		{"interval: nine tenths of it", 0, every10m, 9 * time.Minute},
		{"explicit window wins", 90 * time.Second, every10m, 90 * time.Second},
		{"no schedule: default", 0, schedule{}, defaultLiveWindow},
		{"tiny interval: floor", 0, schedule{interval: time.Second}, minLiveWindow},
	}
	for _, c := range cases {
		d := &Daemon{LiveWindow: c.window}
		if got := d.liveWindow(c.sched, now); got != c.want {
			t.Errorf("%s: window %s, want %s", c.name, got, c.want)
		}
	}
}

func TestLiveScanNeedsInterfaceAndDuration(t *testing.T) {
	a := &Agent{}
	if _, err := a.LiveScan(context.Background(), LiveRequest{Duration: time.Second}); err == nil || !strings.Contains(err.Error(), "no interface") {
		t.Errorf("LiveScan without an interface: %v", err)
	}
	if _, err := a.LiveScan(context.Background(), LiveRequest{Interface: "lo"}); err == nil || !strings.Contains(err.Error(), "positive duration") {
		t.Errorf("LiveScan without a duration: %v", err)
	}
	// An unknown backend is refused before a scan is begun (a is not
	// even open: beginning one would fail differently).
	if _, err := a.LiveScan(context.Background(), LiveRequest{Interface: "lo", Duration: time.Second, Backend: "pfring"}); err == nil || !strings.Contains(err.Error(), `unknown capture backend "pfring"`) {
		t.Errorf("LiveScan with an unknown backend: %v", err)
	}
}

// TestCaptureBackendNamesAgree: every backend the configuration accepts is
// one the capture knows (this build may lack afpacket, never the name).
func TestCaptureBackendNamesAgree(t *testing.T) {
	for _, b := range configs.CaptureBackends {
		if err := pcap.CheckBackend(b); err != nil && strings.Contains(err.Error(), "unknown capture backend") {
			t.Errorf("capture.backend %q: %v", b, err)
		}
	}
	if err := pcap.CheckBackend("pfring"); err == nil {
		t.Error("an unknown backend was accepted")
	}
}
