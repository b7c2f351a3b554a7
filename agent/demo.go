package agent

import (
	"context"
	"fmt"
	"path/filepath"

	"github.com/otaudit/otaudit/agent/demo"
	"github.com/otaudit/otaudit/configs"
)

// DemoCaptureName is the file the demo writes its generated capture to.
const DemoCaptureName = "demo-plant.pcap"

// RunDemo generates the demo plant capture into dir, configures the agent
// with the demo zone, and scans the capture. The agent's DBPath must be set.
func (a *Agent) RunDemo(ctx context.Context, dir string) (*ScanResult, error) {
	cfg, err := configs.Parse("demo zone (embedded)", demo.ZoneYAML, dir)
	if err != nil {
		return nil, fmt.Errorf("demo: %w", err)
	}
	a.Config = cfg
	capture := filepath.Join(dir, DemoCaptureName)
	if err := demo.WriteCapture(capture); err != nil {
		return nil, fmt.Errorf("demo: write capture: %w", err)
	}
	return a.Scan(ctx, ScanRequest{Pcaps: []string{capture}, Mode: "demo"})
}
