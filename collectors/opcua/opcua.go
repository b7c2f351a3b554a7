package opcua

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/netip"
	"slices"
	"sync"
	"syscall"
	"time"

	"github.com/otaudit/otaudit"
	"github.com/otaudit/otaudit/collectors/active"
	"github.com/otaudit/otaudit/configs"
)

// DefaultPort is the IANA port of OPC UA binary.
const DefaultPort = 4840

// Bounds on what one port costs the device. Plan announces them; the
// session refuses anything beyond.
const (
	// maxAdvertisedURLs is how many of the server's own endpoint URLs
	// (other than the discovery URL, on the same address) get a
	// GetEndpoints of their own: on the discovery channel when on its
	// port, else on a channel per port.
	maxAdvertisedURLs = 3
	// anonymousChannels and loginChannels are the new secure channels the
	// anonymous session and the logins may open when the one held open
	// cannot carry them (other security or address, or the device ended
	// it): the logins share one, and get a second only if the device ends
	// the first.
	anonymousChannels = 1
	loginChannels     = 2
	// sessionRetries is how many times per port a CreateSession is asked
	// again on a new channel, after the device ended the channel held
	// open for it before any identity was sent.
	sessionRetries = 1
	// defaultMaxSampledNodes and defaultMaxBrowseDepth bound the browse
	// of the Objects folder in the anonymous session.
	defaultMaxSampledNodes = 200
	defaultMaxBrowseDepth  = 3
	// maxBrowseRequests bounds Browse requests, and BrowseNext requests
	// (which only release continuation points), per session.
	maxBrowseRequests = 10
	// readBatch is the most nodes in one attribute Read (lowered to the
	// server's MaxNodesPerRead); maxAttributeReads bounds those reads.
	readBatch         = 32
	maxAttributeReads = (defaultMaxSampledNodes + readBatch - 1) / readBatch
	// maxBrowseRefs is the most references asked per browsed node.
	maxBrowseRefs = 100
)

// Login is a user-name identity to try. The password is an otaudit.Secret
// and is only revealed to encrypt it for the server.
type Login struct {
	User     string
	Password otaudit.Secret
	// KnownDefault marks a publicly documented vendor default pair.
	KnownDefault bool
}

// Logins is what a zone tries: its configured users first (the owner's
// own accounts), then the embedded default pairs, without repeats.
func Logins(configured []configs.OPCUAUser) []Login {
	var out []Login
	seen := map[[2]string]bool{}
	add := func(l Login) {
		k := [2]string{l.User, l.Password.Reveal()}
		if l.User == "" || seen[k] {
			return
		}
		seen[k] = true
		out = append(out, l)
	}
	for _, u := range configured {
		add(Login{User: u.Username, Password: u.Password})
	}
	for _, d := range configs.DefaultOPCUALogins() {
		add(Login{User: d.User, Password: otaudit.NewSecret(d.Password), KnownDefault: true})
	}
	return out
}

// Config is what the collector needs, passed explicitly.
type Config struct {
	// Ports are the TCP ports to probe (default 4840). A target whose
	// discovery found its open ports is only probed on those.
	Ports []uint16
	// Logins are tried in order when the zone allows credential guessing,
	// within its per-device attempt budget. Nil tries none.
	Logins []Login
	// Judge also marks a password a known default when its default list
	// has it, for configured users that happen to use one.
	Judge otaudit.CredentialJudge
	// ApplicationURI is the URI of the agent's in-memory client
	// certificate, used on signed channels (default urn:otaudit:agent).
	ApplicationURI string
	// MaxSampledNodes and MaxBrowseDepth bound the anonymous session's
	// browse (defaults 200 and 3; larger values are lowered to them).
	MaxSampledNodes int
	MaxBrowseDepth  int
	Logger          *slog.Logger
	// Now stamps the observations (default time.Now).
	Now func() time.Time
}

// Prober is the OPC UA active collector; it implements active.Prober.
type Prober struct {
	cfg Config
	log *slog.Logger

	identityOnce sync.Once
	identity     *clientIdentity
	identityErr  error
}

var _ active.Prober = (*Prober)(nil)

// New returns the OPC UA prober for cfg.
func New(cfg Config) *Prober {
	if len(cfg.Ports) == 0 {
		cfg.Ports = []uint16{DefaultPort}
	}
	cfg.Ports = slices.Compact(slices.Sorted(slices.Values(cfg.Ports)))
	if cfg.ApplicationURI == "" {
		cfg.ApplicationURI = clientApplicationURI
	}
	if cfg.MaxSampledNodes <= 0 || cfg.MaxSampledNodes > defaultMaxSampledNodes {
		cfg.MaxSampledNodes = defaultMaxSampledNodes
	}
	if cfg.MaxBrowseDepth <= 0 || cfg.MaxBrowseDepth > defaultMaxBrowseDepth {
		cfg.MaxBrowseDepth = defaultMaxBrowseDepth
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	return &Prober{cfg: cfg, log: log.With("collector", "opcua")}
}

// Name is "opcua".
func (p *Prober) Name() string { return "opcua" }

// clientIdentity makes the agent's certificate once per prober, when a
// signed channel first needs it.
func (p *Prober) clientIdentity() (*clientIdentity, error) {
	p.identityOnce.Do(func() {
		p.identity, p.identityErr = newClientIdentity(p.cfg.ApplicationURI, p.cfg.Now())
	})
	return p.identity, p.identityErr
}

// ports are the configured ports to probe on t: all of them when discovery
// did not run, else those it found open.
func (p *Prober) ports(t active.Target) []uint16 {
	if t.OpenTCP == nil {
		return p.cfg.Ports
	}
	var out []uint16
	for _, port := range p.cfg.Ports {
		if t.OpenTCP[port] {
			out = append(out, port)
		}
	}
	return out
}

// loginAttempts is how many logins Probe may try on one port.
func (p *Prober) loginAttempts(l active.Limits) int {
	if !l.CredentialGuessing {
		return 0
	}
	return min(len(p.cfg.Logins), max(l.MaxAttemptsPerDevice, 0))
}

// Connection details as they appear in the plan and the ledger.
func discoveryDetail(url string) string { return "discovery " + url + " (SecurityPolicy None)" }

// connectDetail names the TCP connection of a channel for purpose detail.
func connectDetail(detail string) string { return "opcua " + detail }
func advertisedDetail(port uint16) string {
	return fmt.Sprintf("port %d: GetEndpoints on the server's own endpoint URLs on this address (at most %d; on the discovery channel, a channel of their own only on another port)", port, maxAdvertisedURLs)
}
func anonymousDetail(port uint16) string {
	return fmt.Sprintf("port %d: anonymous session, read-only: ServerStatus, BuildInfo, NamespaceArray, access attributes of at most %d nodes", port, defaultMaxSampledNodes)
}
func loginChannelDetail(port uint16) string {
	return fmt.Sprintf("port %d: secure channel for the logins, when the one already open cannot carry them (a second only if the device ends the first)", port)
}
func sessionRetryDetail(port uint16) string {
	return fmt.Sprintf("port %d: CreateSession asked again on a new channel, once, if the device ended the one kept open", port)
}
func (l Login) detail(port uint16) string {
	s := fmt.Sprintf("port %d: login user %q", port, l.User)
	if l.KnownDefault {
		return s + " (known default)"
	}
	return s + " (configured)"
}

// Plan lists every request Probe may send to t under l, with the most
// times each may be sent: per channel its TCP connection ("tcp connect"),
// Hello, OpenSecureChannel and CloseSecureChannel, and the services. The
// steps after discovery run on the discovery channel when it can carry
// them; their channel lines are the most they may open when it cannot. It
// sends nothing.
func (p *Prober) Plan(t active.Target, l active.Limits) []active.PlannedRequest {
	var plan []active.PlannedRequest
	add := func(kind string, n int, detail string) {
		if n > 0 {
			plan = append(plan, active.PlannedRequest{Target: t.Addr, Protocol: "opcua", Kind: kind, MaxAttempts: n, Detail: detail})
		}
	}
	channel := func(n int, detail string) {
		if n > 0 {
			plan = append(plan, active.PlannedRequest{Target: t.Addr, Protocol: "tcp", Kind: "connect", MaxAttempts: n, Detail: connectDetail(detail)})
		}
		add(kindHello, n, detail)
		add(kindOpenSecureChannel, n, detail)
		add(kindCloseSecureChannel, n, detail)
	}
	tries := 1 + max(l.Retries, 0)
	logins := p.loginAttempts(l)
	for _, port := range p.ports(t) {
		url := discoveryURL(t.Addr, port)
		d := discoveryDetail(url)
		channel(tries, d)
		add(kindGetEndpoints, tries, d)
		add(kindFindServers, tries, d)

		d = advertisedDetail(port)
		channel(maxAdvertisedURLs, d)
		add(kindGetEndpoints, maxAdvertisedURLs, d)

		d = anonymousDetail(port)
		channel(anonymousChannels, d)
		add(kindCreateSession, 1, d)
		add(kindActivateSession, 1, d)
		add(kindRead, 1+maxAttributeReads, d)
		add(kindBrowse, maxBrowseRequests, d)
		add(kindBrowseNext, maxBrowseRequests, d)
		add(kindCloseSession, 1, d)

		channel(min(loginChannels, logins), loginChannelDetail(port))
		for _, login := range p.cfg.Logins[:logins] {
			d = login.detail(port)
			add(kindCreateSession, 1, d)
			add(kindActivateSession, 1, d)
			add(kindCloseSession, 1, d)
		}
		add(kindCreateSession, sessionRetries, sessionRetryDetail(port))
	}
	return plan
}

// discoveryURL is the URL the collector first asks on: the address and
// port, no path (every server answers GetEndpoints there or says which
// URL to use).
func discoveryURL(addr netip.Addr, port uint16) string {
	return "opc.tcp://" + netip.AddrPortFrom(addr.Unmap(), port).String()
}

// Probe asks t on each port and emits what it learnt. A port that fails is
// reported in the returned error; the other ports are still probed.
func (p *Prober) Probe(ctx context.Context, s *active.Session, t active.Target, emit func(otaudit.Observation)) error {
	var errs []error
	for _, port := range p.ports(t) {
		if err := ctx.Err(); err != nil {
			errs = append(errs, err)
			break
		}
		r := &portRun{
			p: p, gate: s, limits: s.Limits(), target: t.Addr.Unmap(), port: port, emit: emit,
			attempt:           s.Attempt,
			sessionRetries:    sessionRetries,
			pauseAfterConnect: s.PauseAfterConnect,
			log:               p.log.With("target", t.Addr.String(), "port", port),
		}
		if err := r.run(ctx); err != nil {
			if unreachable(err) {
				// No other port would fare better; the scheduler skips
				// whatever else was to run on the device.
				return fmt.Errorf("%w: %w", active.ErrUnreachable, errors.Join(append(errs, err)...))
			}
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// unreachable: the network says the host cannot be reached at all.
func unreachable(err error) bool {
	return errors.Is(err, syscall.EHOSTUNREACH) || errors.Is(err, syscall.ENETUNREACH) || errors.Is(err, syscall.EHOSTDOWN)
}
