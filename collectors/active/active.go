// Package active is the one safety layer every active probe goes through:
// the allow-list of read-only request kinds, per-device and per-zone rate
// limits, concurrency and connection bounds, per-request timeouts, the
// credential-guessing budget, the dry-run plan and the ledger of every
// request actually sent.
//
// It holds no protocol knowledge. The protocol collectors (discovery, snmp,
// modbus, opcua) implement Prober and send every request through
// Session.Do, which refuses a kind that is not in Allowed, or that the
// prober's own Plan did not announce, before a byte leaves. What must not
// live here: protocol encoders and decoders, judging what an observation
// means, storage.
package active

import (
	"context"
	"errors"
	"fmt"
	"math"
	"net/netip"
	"time"

	"github.com/otaudit/otaudit"
)

// Limits bound what a scan may do to devices and to the zone's links. They
// come from the zone configuration's `active` section (configs.ActiveConfig)
// or its embedded defaults. Zero rates, concurrency, connections and
// timeout take DefaultLimits (never "unlimited"); zero retries and
// credential guessing off are the gentler choice and stay as given.
type Limits struct {
	// PerDevicePPS is requests per second to one device (e.g. 2).
	PerDevicePPS float64
	// PerZonePPS is requests per second in total (e.g. 20).
	PerZonePPS float64
	// Concurrency is the number of devices probed at once (e.g. 4).
	Concurrency int
	// ConnsPerDevice is the number of requests in flight to one device at
	// a time (default 1).
	ConnsPerDevice int
	// Timeout bounds one request (e.g. 3s).
	Timeout time.Duration
	// Retries is the retry budget per request kind (e.g. 1): a prober
	// plans and sends at most 1+Retries attempts of one request.
	Retries int
	// PauseAfterConnect and PauseBetweenRequests are named device
	// workarounds for network stacks that cannot take back-to-back
	// traffic.
	PauseAfterConnect, PauseBetweenRequests time.Duration
	// CredentialGuessing allows trying default credentials, at most
	// MaxAttemptsPerDevice per device, AttemptDelay apart.
	CredentialGuessing   bool
	MaxAttemptsPerDevice int
	AttemptDelay         time.Duration
}

// DefaultLimits are the conservative limits of the embedded default zone
// configuration (configs.Default().Active).
func DefaultLimits() Limits {
	return Limits{
		PerDevicePPS:         2,
		PerZonePPS:           20,
		Concurrency:          4,
		ConnsPerDevice:       1,
		Timeout:              3 * time.Second,
		Retries:              1,
		CredentialGuessing:   true,
		MaxAttemptsPerDevice: 3,
		AttemptDelay:         2 * time.Second,
	}
}

// maxPPS bounds a rate whatever the caller asks for; configs enforces the
// same bound on files.
const maxPPS = 10000

// normalised fills zero values with the defaults and clamps what is out of
// range, so that a zero Limits is the gentle default, never "unlimited".
func (l Limits) normalised() Limits {
	d := DefaultLimits()
	if !(l.PerDevicePPS > 0) || math.IsInf(l.PerDevicePPS, 0) {
		l.PerDevicePPS = d.PerDevicePPS
	}
	if !(l.PerZonePPS > 0) || math.IsInf(l.PerZonePPS, 0) {
		l.PerZonePPS = d.PerZonePPS
	}
	l.PerDevicePPS = min(l.PerDevicePPS, maxPPS)
	l.PerZonePPS = min(l.PerZonePPS, maxPPS)
	// One device may not get more than the whole zone.
	l.PerDevicePPS = min(l.PerDevicePPS, l.PerZonePPS)
	if l.Concurrency < 1 {
		l.Concurrency = d.Concurrency
	}
	if l.ConnsPerDevice < 1 {
		l.ConnsPerDevice = d.ConnsPerDevice
	}
	if l.Timeout <= 0 {
		l.Timeout = d.Timeout
	}
	l.Retries = max(l.Retries, 0)
	l.PauseAfterConnect = max(l.PauseAfterConnect, 0)
	l.PauseBetweenRequests = max(l.PauseBetweenRequests, 0)
	l.MaxAttemptsPerDevice = max(l.MaxAttemptsPerDevice, 0)
	l.AttemptDelay = max(l.AttemptDelay, 0)
	return l
}

// Target is one device. OpenTCP holds the TCP ports discovery found open:
// nil means discovery did not run (probers try their port), an empty map
// means it ran and found none.
type Target struct {
	Addr    netip.Addr
	OpenTCP map[uint16]bool
	// Name is the host name the target was given as, if any.
	Name string
}

// String is the address, with the name when there is one.
func (t Target) String() string {
	if t.Name != "" {
		return t.Name + " (" + t.Addr.String() + ")"
	}
	return t.Addr.String()
}

// Allowed lists, per protocol, the request kinds that may ever be sent.
// Anything else is refused with ErrNotAllowed before a byte leaves. Every
// kind here reads; none changes a device. It is a variable only so that the
// probers can name it; the scheduler reads it through allowed, which tests
// pin to exactly these sets.
var Allowed = map[string]map[string]bool{
	"arp":    {"who-has": true},
	"bacnet": {"who-is": true, "read-property": true},
	"tcp":    {"connect": true},
	"snmp":   {"get": true, "getnext": true, "getbulk": true},
	"modbus": {"read-device-id": true, "report-server-id": true, "read-holding-registers": true},
	"opcua": {
		"hello": true, "open-secure-channel": true, "close-secure-channel": true,
		"get-endpoints": true, "find-servers": true,
		"create-session": true, "activate-session": true, "close-session": true,
		"read": true, "browse": true, "browse-next": true,
	},
}

// ErrNotAllowed: the request kind is not on the read-only allow-list.
var ErrNotAllowed = errors.New("request kind not allowed: active collectors are read-only")

// ErrOverPlan: the prober tried more requests of a kind than its own Plan
// announced for the target. The dry-run plan is a promise; it is kept by
// refusing, not by trusting the prober.
var ErrOverPlan = errors.New("request not in the plan: more attempts than the dry-run announced")

// ErrUnreachable: the network says the device cannot be reached (no ARP
// answer, no route). A prober wraps it when that is why it stopped; the
// scheduler then runs no other prober on the device — a host that does not
// answer ARP cannot answer UDP either — and counts the target in
// RunReport.Unreachable instead of as a device error: a range holds many
// empty addresses.
var ErrUnreachable = errors.New("host unreachable")

// allowed reports whether protocol/kind is on the allow-list.
func allowed(protocol, kind string) bool { return Allowed[protocol][kind] }

// PlannedRequest is one line of the dry-run plan.
type PlannedRequest struct {
	Target   netip.Addr `json:"target"`
	Protocol string     `json:"protocol"`
	Kind     string     `json:"kind"`
	// MaxAttempts is the most times this request is sent (1 + retries).
	MaxAttempts int `json:"max_attempts"`
	// Detail says what is asked, e.g. "port 502 (modbus)", "unit 1",
	// "community public (known default)". Never a secret in clear.
	Detail string `json:"detail,omitempty"`
}

// Prober is one protocol's active collector.
type Prober interface {
	// Name is the collector's name: "tcp", "snmp", "modbus", "opcua".
	Name() string
	// Plan is exactly what Probe may send to t under l; it sends nothing.
	Plan(t Target, l Limits) []PlannedRequest
	// Probe asks t, sending every request through s.Do, and emits what it
	// learnt. A device that fails is an error for that device only.
	Probe(ctx context.Context, s *Session, t Target, emit func(otaudit.Observation)) error
}

// Sweeper is a prober that asks every target at once whether it is there
// before the per-device probers run, with one cheap request each (an ARP
// who-has): an empty address of a range then costs one packet and a short
// wait instead of a connect timeout, and the present ones are probed as
// soon as they answer. Its Plan is per target like any prober's; the
// scheduler never calls its Probe.
type Sweeper interface {
	Prober
	// Sweep asks the targets, each request through the target's Session,
	// emits what it learnt (e.g. the MAC address) and reports every target
	// it could decide through report, with j the target's index in
	// targets, as soon as it is decided; it may call report from any
	// goroutine, but not after it returned. Targets it cannot ask (not on
	// a directly attached link, no permission) are left undecided or
	// reported SweepUnknown; they are probed one by one. An error is the
	// sweep's own failure (the undecided targets are still probed).
	Sweep(ctx context.Context, targets []SweepTarget, emit func(otaudit.Observation), report func(j int, state SweepState, why string)) error
}

// SweepTarget is one target of a sweep with its session.
type SweepTarget struct {
	Target  Target
	Session *Session
}

// SweepState is what a sweep found about a target.
type SweepState int

const (
	// SweepUnknown: the sweep could not tell; the target is probed.
	SweepUnknown SweepState = iota
	// SweepPresent: the target answered; it is probed.
	SweepPresent
	// SweepAbsent: the target did not answer on a link where it must
	// have (no ARP reply): it is reported unreachable and not probed.
	SweepAbsent
)

// LedgerEntry is one request the scheduler let through to a device.
type LedgerEntry struct {
	Time     time.Time  `json:"time"`
	Target   netip.Addr `json:"target"`
	Protocol string     `json:"protocol"`
	Kind     string     `json:"kind"`
	Detail   string     `json:"detail,omitempty"`
}

// RunReport summarises one Run.
type RunReport struct {
	Targets  int           `json:"targets"`
	Requests int           `json:"requests"`
	Errors   []DeviceError `json:"errors,omitempty"`
	// Unreachable are the targets the network reported unreachable
	// (ErrUnreachable), in address order: not device errors, and not
	// probed further.
	Unreachable []netip.Addr  `json:"unreachable,omitempty"`
	Duration    time.Duration `json:"duration"`
}

// DeviceError is one prober's failure on one device; the scan goes on.
type DeviceError struct {
	Target netip.Addr `json:"target"`
	Prober string     `json:"prober"`
	Err    string     `json:"error"`
}

func (e DeviceError) Error() string {
	return fmt.Sprintf("%s %s: %s", e.Prober, e.Target, e.Err)
}
