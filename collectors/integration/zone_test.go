//go:build integration

package integration_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// The test zone as .ci/testbed/zone.sh builds it. Keep in step with the
// header of zone.sh.
var (
	zonePrefix  = netip.MustParsePrefix("10.99.0.0/24")
	agentAddr   = netip.MustParseAddr("10.99.0.2")  // otz-audit: where the tests run
	plcAddr     = netip.MustParseAddr("10.99.0.10") // pymodbus :502 (+ libmodbus :5020)
	snmpAddr    = netip.MustParseAddr("10.99.0.11") // net-snmp snmpd
	opcAddr     = netip.MustParseAddr("10.99.0.12") // node-opcua, None + Basic256Sha256
	rtuAddr     = netip.MustParseAddr("10.99.0.13") // libmodbus :502, rejects FC43
	muteAddr    = netip.MustParseAddr("10.99.0.14") // accepts TCP, never answers
	weakOPCAddr = netip.MustParseAddr("10.99.0.15") // node-opcua with Basic128Rsa15/Basic256
	bmsAddr     = netip.MustParseAddr("10.99.0.16") // node-bacnet device 2601, I-Am by broadcast
	deadAddr    = netip.MustParseAddr("10.99.0.99") // nothing there
)

// zoneProblem says why the tests cannot run here ("" when they can): they
// must run inside the otz-audit namespace, where eth0 is 10.99.0.2.
var zoneProblem string

func TestMain(m *testing.M) {
	zoneProblem = checkZone()
	if zoneProblem != "" {
		fmt.Fprintln(os.Stderr, "integration: "+zoneProblem)
	}
	os.Exit(m.Run())
}

func checkZone() string {
	const hint = "run the suite with `make integration` (.ci/integration.sh), which builds the zone and runs it inside otz-audit"
	ifc, err := net.InterfaceByName("eth0")
	if err != nil {
		return "no eth0: not inside the test zone's otz-audit namespace; " + hint
	}
	addrs, err := ifc.Addrs()
	if err != nil {
		return "eth0 addresses: " + err.Error()
	}
	for _, a := range addrs {
		if p, err := netip.ParsePrefix(a.String()); err == nil && p.Addr() == agentAddr {
			return ""
		}
	}
	return "eth0 is not " + agentAddr.String() + ": not inside the test zone's otz-audit namespace; " + hint
}

// needZone skips t outside the test zone.
func needZone(t *testing.T) {
	t.Helper()
	if zoneProblem != "" {
		t.Skip(zoneProblem)
	}
}

// zoneHostPort returns addr:port after checking that addr lies in the test
// zone: no test may address anything else.
func zoneHostPort(t *testing.T, addr netip.Addr, port uint16) string {
	t.Helper()
	if !zonePrefix.Contains(addr) {
		t.Fatalf("refusing to address %s: outside the test zone %s", addr, zonePrefix)
	}
	return netip.AddrPortFrom(addr, port).String()
}

// otauditBin is the otaudit binary under test, built outside the namespace
// by .ci/integration.sh (the namespace has no route to a module proxy).
func otauditBin(t *testing.T) string {
	t.Helper()
	p := os.Getenv("OTAUDIT_BIN")
	if p == "" {
		t.Skip("OTAUDIT_BIN is not set: it names the otaudit binary to test (.ci/integration.sh sets it)")
	}
	if _, err := os.Stat(p); err != nil {
		t.Fatalf("OTAUDIT_BIN: %v", err)
	}
	return p
}

// cliResult is one run of the otaudit binary.
type cliResult struct {
	Args           []string
	Stdout, Stderr []byte
	ExitCode       int
	Wall           time.Duration
}

func (r cliResult) String() string {
	return fmt.Sprintf("otaudit %s: exit %d after %v\nstderr:\n%s", strings.Join(r.Args, " "), r.ExitCode, r.Wall.Round(time.Millisecond), tail(r.Stderr, 4000))
}

func tail(b []byte, n int) string {
	if len(b) > n {
		return "…" + string(b[len(b)-n:])
	}
	return string(b)
}

// runOtaudit runs the binary with args, bounded by timeout. A non-zero exit
// is not an error here: callers assert the code they expect.
func runOtaudit(t *testing.T, timeout time.Duration, args ...string) cliResult {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, otauditBin(t), args...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	// A private state directory: never the runner's ~/.local/state store.
	cmd.Env = append(os.Environ(), "XDG_STATE_HOME="+t.TempDir())
	start := time.Now()
	err := cmd.Run()
	res := cliResult{Args: args, Stdout: out.Bytes(), Stderr: errb.Bytes(), Wall: time.Since(start)}
	var ee *exec.ExitError
	switch {
	case err == nil:
	case errors.As(err, &ee) && ctx.Err() == nil:
		res.ExitCode = ee.ExitCode()
	default:
		t.Fatalf("otaudit %s: %v (after %v)\nstderr:\n%s", strings.Join(args, " "), err, res.Wall, tail(res.Stderr, 4000))
	}
	return res
}
