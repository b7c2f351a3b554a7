package snmp

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/gosnmp/gosnmp"

	"github.com/otaudit/otaudit"
	"github.com/otaudit/otaudit/collectors/active"
	"github.com/otaudit/otaudit/configs"
)

const (
	// DefaultPort is the SNMP agent port.
	DefaultPort = 161
	// DefaultMaxRows bounds the rows read from each table walk.
	DefaultMaxRows = 64
	// maxPagesPerWalk bounds the GETBULK requests of one table walk,
	// whatever the agent answers (a lying agent can return one row per
	// request).
	maxPagesPerWalk = 8
	bulkRepetitions = 16
	// v1MaxRows bounds the rows of one table walk at v1, where GETNEXT
	// costs one request per row: the identity needs the chassis row and a
	// few interfaces (maxMACs), and a truncated VACM table makes write
	// access "unknown", never a wrong "read".
	v1MaxRows = 16

	protocol = "snmp"
	source   = "snmp:active"

	kindGet     = "get"
	kindGetNext = "getnext"
	kindGetBulk = "getbulk"
)

// DefaultV3Users are USM user names tried at noAuthNoPriv, each one a
// credential guess: factory or textbook names that agents ship with.
var DefaultV3Users = []string{"initial", "admin", "public", "private", "templateMD5", "templateSHA"}

// V3User is a configured USM user. Protocols are gosnmp's names (MD5, SHA,
// SHA224…SHA512; DES, AES, AES192, AES256, AES192C, AES256C); empty means
// no authentication / no privacy.
type V3User struct {
	Name         string
	AuthProtocol string
	AuthPassword otaudit.Secret
	PrivProtocol string
	PrivPassword otaudit.Secret
}

// V3UsersFrom converts the zone configuration's v3 users.
func V3UsersFrom(users []configs.SNMPv3User) []V3User {
	out := make([]V3User, 0, len(users))
	for _, u := range users {
		out = append(out, V3User{Name: u.Name, AuthProtocol: u.AuthProtocol, AuthPassword: u.AuthPassword,
			PrivProtocol: u.PrivProtocol, PrivPassword: u.PrivPassword})
	}
	return out
}

// Config is what the SNMP collector needs; zero values take defaults.
type Config struct {
	// Communities are the site's own communities: always tried, and not
	// counted as guesses.
	Communities []otaudit.Secret
	// DefaultCommunities are guessed after the configured ones, each
	// guess reserved with Session.Attempt; nil takes the embedded list
	// (configs.DefaultCredentials()["snmp"]), an empty non-nil slice
	// guesses none.
	DefaultCommunities []string
	// V3Users are tried at their configured security level.
	V3Users []V3User
	// DefaultV3Users are guessed at noAuthNoPriv; nil takes DefaultV3Users.
	DefaultV3Users []string
	// Judge fingerprints communities and tells known defaults.
	Judge otaudit.CredentialJudge
	// Port is the agent port (DefaultPort when 0).
	Port uint16
	// MaxRows bounds each table walk (DefaultMaxRows when 0).
	MaxRows int
	Logger  *slog.Logger
	// Now is the clock for observation times (time.Now when nil).
	Now func() time.Time
}

// Collector is the active SNMP prober (active.Prober "snmp").
type Collector struct {
	communities []otaudit.Secret
	defaults    []string
	v3Users     []V3User
	v3Defaults  []string
	judge       otaudit.CredentialJudge
	port        uint16
	maxRows     int
	log         *slog.Logger
	now         func() time.Time
}

var _ active.Prober = (*Collector)(nil)

// New returns a collector for cfg.
func New(cfg Config) *Collector {
	c := &Collector{communities: slices.Clone(cfg.Communities), defaults: cfg.DefaultCommunities,
		v3Users: slices.Clone(cfg.V3Users), v3Defaults: cfg.DefaultV3Users, judge: cfg.Judge,
		port: cfg.Port, maxRows: cfg.MaxRows, log: cfg.Logger, now: cfg.Now}
	if c.defaults == nil {
		c.defaults = configs.DefaultCredentials()["snmp"]
	}
	// A default the site configured is tried as configured, not guessed.
	c.defaults = slices.DeleteFunc(slices.Clone(c.defaults), func(d string) bool {
		return slices.ContainsFunc(c.communities, func(s otaudit.Secret) bool { return s.Reveal() == d })
	})
	if c.v3Defaults == nil {
		c.v3Defaults = DefaultV3Users
	}
	c.v3Defaults = slices.DeleteFunc(slices.Clone(c.v3Defaults), func(n string) bool {
		return slices.ContainsFunc(c.v3Users, func(u V3User) bool { return u.Name == n })
	})
	if c.port == 0 {
		c.port = DefaultPort
	}
	if c.maxRows <= 0 {
		c.maxRows = DefaultMaxRows
	}
	if c.log == nil {
		c.log = slog.New(slog.DiscardHandler)
	}
	if c.now == nil {
		c.now = time.Now
	}
	return c
}

// Name is the prober's name in plans, ledgers and errors.
func (c *Collector) Name() string { return protocol }

// Plan details name credentials by position, never by value.
func configuredDetail(v string, i int) string {
	return fmt.Sprintf("%s configured community %d", v, i+1)
}
func defaultDetail(v string, i int) string { return fmt.Sprintf("%s default community %d", v, i+1) }

const (
	detailDiscovery   = "v3 engine discovery"
	detailV1Reuse     = "v1 community accepted at v2c"
	detailSystem      = "system group"
	detailInterfaces  = "ifTable walk"
	detailEntity      = "entPhysicalTable walk"
	detailVACMGroups  = "vacmSecurityToGroupTable walk"
	detailVACMAccess  = "vacmAccessTable walk"
	detailVACMViews   = "vacmViewTreeFamilyTable walk"
	detailCommunities = "snmpCommunityTable walk"
	detailWalkRetry   = "retry of a walk page that timed out"
)

func v3UserDetail(name, level string) string { return "v3 user " + strconv.Quote(name) + " " + level }

// walks are the bounded table walks of the collection phase.
var walks = []string{detailInterfaces, detailEntity, detailCommunities, detailVACMGroups, detailVACMAccess, detailVACMViews}

// guesses is the most credential guesses Probe may make on one device:
// the zone's per-device budget (shared with every other prober), at most
// one per default community and version and per default v3 user.
func (c *Collector) guesses(l active.Limits) int {
	if !l.CredentialGuessing {
		return 0
	}
	return min(max(l.MaxAttemptsPerDevice, 0), 2*len(c.defaults)+len(c.v3Defaults))
}

// guessDetail names the guesses in the plan: what may be guessed, in
// order, and how many at most; the values of default communities stay
// out of it like every other community.
func (c *Collector) guessDetail(n int) string {
	s := fmt.Sprintf("credential guesses, at most %d per device (the zone's budget, shared with other protocols), each default tried while the budget lasts, accepted or not:", n)
	if len(c.defaults) > 0 {
		s += fmt.Sprintf(" default communities 1-%d at v2c, then at v1", len(c.defaults))
	}
	if len(c.v3Defaults) > 0 {
		if len(c.defaults) > 0 {
			s += ";"
		}
		s += " v3 default users " + strings.Join(c.v3Defaults, ", ") + " at noAuthNoPriv"
	}
	return s
}

// guessLedgerDetail names one guess in the ledger.
func guessLedgerDetail(what string) string { return "guess: " + what }

// walkRequests is the most requests one table walk sends at version v,
// retries aside: GETBULK pages of bulkRepetitions rows up to MaxRows (and
// one to see the end), or one GETNEXT per row at v1 up to v1MaxRows (and
// one to see the end).
func (c *Collector) walkRequests(v gosnmp.SnmpVersion) int {
	if v == gosnmp.Version1 {
		return c.rowCap(v) + 1
	}
	return min(maxPagesPerWalk, (c.maxRows+bulkRepetitions-1)/bulkRepetitions+1)
}

// rowCap is the most rows one walk keeps at version v.
func (c *Collector) rowCap(v gosnmp.SnmpVersion) int {
	if v == gosnmp.Version1 {
		return min(c.maxRows, v1MaxRows)
	}
	return c.maxRows
}

// Plan lists every request Probe may send to t and the most of each: the
// v3 engine discovery; the configured communities at v2c and at v1 (one
// request each: silence is the normal answer to a wrong community); the
// defaults accepted at v2c again at v1; at most the zone's per-device budget
// of guesses (default communities, default v3 users); the configured v3
// users; then the collection with the one best accepted credential — the
// system group and six bounded walks, GETBULK at v2c/v3 or GETNEXT at v1
// (the plan must allow both, the device decides which). Single requests
// are retried at most l.Retries times after a timeout; the walks share
// one budget of l.Retries retries; guesses are never retried.
func (c *Collector) Plan(t active.Target, l active.Limits) []active.PlannedRequest {
	retries := max(l.Retries, 0)
	tries := 1 + retries
	req := func(kind, detail string, n int) active.PlannedRequest {
		return active.PlannedRequest{Target: t.Addr, Protocol: protocol, Kind: kind, MaxAttempts: n, Detail: detail}
	}
	plan := []active.PlannedRequest{req(kindGet, detailDiscovery, tries)}
	n := c.guesses(l)
	for _, v := range []string{"v2c", "v1"} {
		for i := range c.communities {
			plan = append(plan, req(kindGet, configuredDetail(v, i), 1))
		}
		if v == "v1" && n > 0 {
			// Each default accepted at v2c is asked once at v1: not a
			// guess any more, but never more than the guesses made.
			plan = append(plan, req(kindGet, detailV1Reuse, n))
		}
	}
	if n > 0 {
		plan = append(plan, req(kindGet, c.guessDetail(n), n))
	}
	for _, u := range c.v3Users {
		plan = append(plan, req(kindGet, v3UserDetail(u.Name, levelName(levelOf(u))), tries))
	}
	plan = append(plan, req(kindGet, detailSystem, tries))
	for _, kind := range []string{kindGetBulk, kindGetNext} {
		v := gosnmp.Version2c
		if kind == kindGetNext {
			v = gosnmp.Version1
		}
		for _, w := range walks {
			plan = append(plan, req(kind, w, c.walkRequests(v)))
		}
		if retries > 0 {
			plan = append(plan, req(kind, detailWalkRetry, retries))
		}
	}
	return plan
}

// credential is one way of talking to the agent.
type credential struct {
	version gosnmp.SnmpVersion
	// v1/v2c
	community otaudit.Secret
	label     string // how logs and plans name it
	// v3
	user  *V3User
	level gosnmp.SnmpV3MsgFlags
}

func versionName(v gosnmp.SnmpVersion) string {
	switch v {
	case gosnmp.Version1:
		return "v1"
	case gosnmp.Version2c:
		return "v2c"
	}
	return "v3"
}

func levelOf(u V3User) gosnmp.SnmpV3MsgFlags {
	switch {
	case u.AuthProtocol != "" && u.PrivProtocol != "":
		return gosnmp.AuthPriv
	case u.AuthProtocol != "":
		return gosnmp.AuthNoPriv
	}
	return gosnmp.NoAuthNoPriv
}

// Probe checks which credentials t's agent accepts, collects its identity
// with the best one and emits what it learned. The error says why the
// device could not be probed; observations gathered before it are still
// emitted.
func (c *Collector) Probe(ctx context.Context, s *active.Session, t active.Target, emit func(otaudit.Observation)) error {
	addr := netip.AddrPortFrom(t.Addr, c.port)
	p := &probe{c: c, s: s, addr: addr, start: c.now(),
		log: c.log.With("collector", protocol, "target", addr.String())}
	err := p.run(ctx)
	p.emit(emit)
	if err != nil {
		return fmt.Errorf("snmp %s: %w", addr, err)
	}
	return nil
}

// probe is the state of one device's probe.
type probe struct {
	c     *Collector
	s     *active.Session
	addr  netip.AddrPort
	log   *slog.Logger
	start time.Time
	agent netip.Addr

	engine   *engine
	answered bool // the agent answered anything at all
	// responses counts the requests the agent answered.
	responses int64
	// slowest is the longest the agent took to answer so far; see
	// silenceWait.
	slowest time.Duration
	// quickNo: the request in flight is one whose normal "no" is silence
	// (a credential check), bounded by silenceWait.
	quickNo bool
	// portClosed: the host said nobody listens on the port (ICMP port
	// unreachable); unreachable: the network said the host cannot be
	// reached. Either way nothing more is worth sending.
	portClosed  bool
	unreachable error
	// walkRetries is what is left of the collection's retry budget,
	// shared by its walks.
	walkRetries int
	accesses    []*access
	best        *credential
	bestAcc     *access
	system      map[string]string
	ifaces      []iface
	entity      []entityRow
	// errs are failures worth reporting with the device (garbage, refusal
	// of our own request by the guard).
	errs []error
}

type engine struct {
	id          string
	boots, time uint32
}

// access is one credential tried, with the answer.
type access struct {
	obs  otaudit.SNMPAccess
	cred credential
}

type iface struct{ descr, mac, status string }

func (p *probe) run(ctx context.Context) error {
	p.discoverEngine(ctx)
	if err := ctx.Err(); err != nil {
		return err
	}
	v2c := p.checkCommunities(ctx, gosnmp.Version2c, nil)
	if p.stopped() {
		return p.outcome()
	}
	v1 := p.checkCommunities(ctx, gosnmp.Version1, v2c)
	if p.engine != nil {
		p.checkV3(ctx)
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	for _, a := range p.accesses { // best: v3 (highest level first), then v2c, then v1
		if a.obs.Accepted && a.cred.version == gosnmp.Version3 && (p.best == nil || a.cred.level > p.best.level) {
			p.best, p.bestAcc = &a.cred, a
		}
	}
	for _, a := range append(v2c, v1...) {
		if p.best == nil {
			p.best, p.bestAcc = &a.cred, a
		}
	}
	if p.best != nil {
		p.collect(ctx, *p.best)
	}
	return p.outcome()
}

// outcome is what Probe returns. A device without an SNMP agent is an
// outcome, not an error: most devices of a range have none. The network
// saying the host is unreachable is active.ErrUnreachable, so that nothing
// else is tried there. What remains are real failures: garbage answers,
// our own requests refused by the guard or the plan.
func (p *probe) outcome() error {
	if p.unreachable != nil {
		return errors.Join(append([]error{fmt.Errorf("%w: %w", active.ErrUnreachable, p.unreachable)}, p.errs...)...)
	}
	if !p.answered {
		p.log.Debug("no SNMP agent answers", "port_closed", p.portClosed)
	}
	return errors.Join(p.errs...)
}

// stopped: the host or the network said no agent can answer.
func (p *probe) stopped() bool { return p.portClosed || p.unreachable != nil }

func isPortClosed(err error) bool { return errors.Is(err, syscall.ECONNREFUSED) }

func isUnreachable(err error) bool {
	return errors.Is(err, syscall.EHOSTUNREACH) || errors.Is(err, syscall.ENETUNREACH) || errors.Is(err, syscall.EHOSTDOWN)
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout() || errors.Is(err, context.DeadlineExceeded) ||
		errors.Is(err, gosnmp.ErrMaxRetriesExceeded)
}

// client opens a gosnmp client for cred whose writes go through the guard.
// Opening a UDP socket sends nothing.
func (p *probe) client(cred credential) (*gosnmp.GoSNMP, error) {
	g := &gosnmp.GoSNMP{
		Target:    p.addr.Addr().String(),
		Port:      p.addr.Port(),
		Transport: "udp",
		Version:   cred.version,
		Community: cred.community.Reveal(),
		Timeout:   p.s.Limits().Timeout,
		Retries:   0, // retries are the collector's decision, through the session
		MaxOids:   gosnmp.MaxOids,
		Context:   context.Background(),
	}
	if cred.version == gosnmp.Version3 {
		usm := &gosnmp.UsmSecurityParameters{UserName: cred.user.Name}
		if cred.level&gosnmp.AuthNoPriv != 0 {
			usm.AuthenticationProtocol = authProtocol(cred.user.AuthProtocol)
			usm.AuthenticationPassphrase = cred.user.AuthPassword.Reveal()
		}
		if cred.level&gosnmp.AuthPriv == gosnmp.AuthPriv {
			usm.PrivacyProtocol = privProtocol(cred.user.PrivProtocol)
			usm.PrivacyPassphrase = cred.user.PrivPassword.Reveal()
		}
		if p.engine != nil {
			// Known from our own discovery: gosnmp must not send another.
			usm.AuthoritativeEngineID = p.engine.id
			usm.AuthoritativeEngineBoots = p.engine.boots
			usm.AuthoritativeEngineTime = p.engine.time
			if err := usm.InitSecurityKeys(); err != nil {
				return nil, fmt.Errorf("v3 user %q: keys: %w", cred.user.Name, err)
			}
		}
		g.SecurityModel = gosnmp.UserSecurityModel
		g.MsgFlags = cred.level
		g.SecurityParameters = usm
	}
	if err := g.Connect(); err != nil {
		return nil, err
	}
	if a, ok := g.Conn.LocalAddr().(*net.UDPAddr); ok && !p.agent.IsValid() {
		if ip, ok := netip.AddrFromSlice(a.IP); ok {
			p.agent = ip.Unmap()
		}
	}
	g.Conn = &guardConn{Conn: g.Conn, priv: func() (gosnmp.SnmpV3PrivProtocol, []byte) {
		if usm, ok := g.SecurityParameters.(*gosnmp.UsmSecurityParameters); ok && g.MsgFlags&gosnmp.AuthPriv == gosnmp.AuthPriv {
			return usm.PrivacyProtocol, usm.PrivacyKey
		}
		return gosnmp.NoPriv, nil
	}}
	return g, nil
}

func authProtocol(name string) gosnmp.SnmpV3AuthProtocol {
	for _, a := range []gosnmp.SnmpV3AuthProtocol{gosnmp.MD5, gosnmp.SHA, gosnmp.SHA224, gosnmp.SHA256, gosnmp.SHA384, gosnmp.SHA512} {
		if a.String() == name {
			return a
		}
	}
	return gosnmp.NoAuth
}

func privProtocol(name string) gosnmp.SnmpV3PrivProtocol {
	for _, a := range []gosnmp.SnmpV3PrivProtocol{gosnmp.DES, gosnmp.AES, gosnmp.AES192, gosnmp.AES256, gosnmp.AES192C, gosnmp.AES256C} {
		if a.String() == name {
			return a
		}
	}
	return gosnmp.NoPriv
}

// do sends one request through the session with gosnmp's context and
// timeout bound to the session's request context, retrying a timeout while
// *retries (nil: none) lasts, and spending it. A timeout is not recorded
// as an error: silence is the normal answer to a wrong community.
func (p *probe) do(ctx context.Context, g *gosnmp.GoSNMP, kind, detail string, retries *int, send func() (*gosnmp.SnmpPacket, error)) (*gosnmp.SnmpPacket, error) {
	for {
		var res *gosnmp.SnmpPacket
		err := p.s.Do(ctx, protocol, kind, detail, func(rctx context.Context) error {
			if p.quickNo {
				var cancel context.CancelFunc
				rctx, cancel = context.WithTimeout(rctx, p.silenceWait(p.s.Limits().Timeout))
				defer cancel()
			}
			g.Context = rctx
			if dl, ok := rctx.Deadline(); ok {
				g.Timeout = time.Until(dl)
			}
			start := time.Now()
			var e error
			res, e = send()
			if e == nil || res != nil {
				p.slowest = max(p.slowest, time.Since(start))
			}
			return e
		})
		switch {
		case err == nil || (res != nil && res.PDUType == gosnmp.Report):
			p.answered = true
			p.responses++
			return res, err
		case errors.Is(err, active.ErrNotAllowed) || errors.Is(err, active.ErrOverPlan):
			p.errs = append(p.errs, err)
			return nil, err
		case isUnreachable(err):
			if p.unreachable == nil {
				p.unreachable = err
			}
			return nil, err
		case isPortClosed(err):
			p.portClosed = true
			return nil, err
		case ctx.Err() != nil:
			return nil, err
		case !isTimeout(err):
			p.answered = true // it sent something we could not use
			p.errs = append(p.errs, fmt.Errorf("%s: %w", detail, err))
			return nil, err
		case retries == nil || *retries <= 0:
			return nil, err
		}
		*retries--
	}
}

// silenceWait bounds a credential check once the agent has answered
// something: a wrong community or user gets no answer at all, so waiting
// the full timeout for each one makes guessing the slowest part of a scan.
// It is ten times the agent's slowest answer so far, at least 500 ms, at
// most the timeout. An agent that answers a right credential slower than
// that is reported as not accepting it: a missed finding, never a false
// one.
func (p *probe) silenceWait(limit time.Duration) time.Duration {
	if !p.answered || p.slowest <= 0 {
		return limit
	}
	return min(limit, max(500*time.Millisecond, 10*p.slowest))
}

// retryBudget is a fresh per-request retry budget.
func (p *probe) retryBudget() *int {
	n := max(p.s.Limits().Retries, 0)
	return &n
}

// discoverEngine sends the unauthenticated v3 discovery (a GetRequest with
// no bindings, noAuthNoPriv, empty user) and keeps the engine ID, boots
// and time the Report reveals.
func (p *probe) discoverEngine(ctx context.Context) {
	g, err := p.client(credential{version: gosnmp.Version2c})
	if err != nil {
		if isUnreachable(err) {
			p.unreachable = err
			return
		}
		p.errs = append(p.errs, fmt.Errorf("%s: %w", detailDiscovery, err))
		return
	}
	defer g.Conn.Close()
	id := uint32(time.Now().UnixNano()&0x7FFFFFFF) | 1
	pkt := &gosnmp.SnmpPacket{Version: gosnmp.Version3, MsgFlags: gosnmp.Reportable | gosnmp.NoAuthNoPriv,
		SecurityModel: gosnmp.UserSecurityModel, SecurityParameters: &gosnmp.UsmSecurityParameters{},
		PDUType: gosnmp.GetRequest, MsgID: id, RequestID: id, MsgMaxSize: 65507}
	out, err := pkt.MarshalMsg()
	if err != nil {
		p.errs = append(p.errs, fmt.Errorf("%s: %w", detailDiscovery, err))
		return
	}
	var report *gosnmp.SnmpPacket
	_, err = p.do(ctx, g, kindGet, detailDiscovery, p.retryBudget(), func() (*gosnmp.SnmpPacket, error) {
		if dl, ok := g.Context.Deadline(); ok {
			_ = g.Conn.SetDeadline(dl)
		}
		if _, err := g.Conn.Write(out); err != nil {
			return nil, err
		}
		buf := make([]byte, 65536)
		for {
			n, err := g.Conn.Read(buf)
			if err != nil {
				return nil, err
			}
			dec := &gosnmp.GoSNMP{Version: gosnmp.Version3, SecurityModel: gosnmp.UserSecurityModel, MsgFlags: gosnmp.NoAuthNoPriv,
				SecurityParameters: &gosnmp.UsmSecurityParameters{UserName: "-"}}
			r, err := dec.SnmpDecodePacket(buf[:n])
			if err != nil || r.Version != gosnmp.Version3 || r.MsgID != id {
				continue // not ours or not SNMPv3: wait for ours until the deadline
			}
			report = r
			return r, nil
		}
	})
	if err != nil || report == nil {
		return
	}
	usm, ok := report.SecurityParameters.(*gosnmp.UsmSecurityParameters)
	if !ok || len(usm.AuthoritativeEngineID) < 5 || len(usm.AuthoritativeEngineID) > 32 {
		p.errs = append(p.errs, fmt.Errorf("%s: answer without a valid engine ID", detailDiscovery))
		return
	}
	p.engine = &engine{id: usm.AuthoritativeEngineID, boots: usm.AuthoritativeEngineBoots, time: usm.AuthoritativeEngineTime}
}

// oidSysDescr is the one object a credential check reads.
const oidSysDescr = ".1.3.6.1.2.1.1.1.0"

// tryGet reads sysDescr.0 with cred: accepted when a GetResponse comes
// back (even with an error status, which still proves the community).
func (p *probe) tryGet(ctx context.Context, cred credential, detail string, retries *int) (accepted bool, report string, err error) {
	g, err := p.client(cred)
	if err != nil {
		return false, "", err
	}
	defer g.Conn.Close()
	p.quickNo = true
	res, err := p.do(ctx, g, kindGet, detail, retries, func() (*gosnmp.SnmpPacket, error) { return g.Get([]string{oidSysDescr}) })
	p.quickNo = false
	if res != nil && res.PDUType == gosnmp.Report && len(res.Variables) == 1 {
		return false, res.Variables[0].Name, err
	}
	return err == nil && res != nil && res.PDUType == gosnmp.GetResponse, "", err
}

// checkCommunities tries the configured communities, then (v1 only) the
// defaults guessed and accepted at v2c, then default guesses while
// Session.Attempt allows. It goes on after an accepted community: an
// agent that takes both a read and a write default must show both. It
// returns the accepted accesses, in the order tried.
func (p *probe) checkCommunities(ctx context.Context, version gosnmp.SnmpVersion, atV2c []*access) []*access {
	v := versionName(version)
	type candidate struct {
		secret otaudit.Secret
		detail string
		guess  bool
	}
	var cands []candidate
	tried := map[string]bool{}
	for i, s := range p.c.communities {
		tried[s.Reveal()] = true
		cands = append(cands, candidate{secret: s, detail: configuredDetail(v, i)})
	}
	for _, a := range atV2c {
		if c := a.cred.community.Reveal(); !tried[c] {
			tried[c] = true
			cands = append(cands, candidate{secret: a.cred.community, detail: detailV1Reuse})
		}
	}
	for i, d := range p.c.defaults {
		if !tried[d] {
			tried[d] = true
			cands = append(cands, candidate{secret: otaudit.NewSecret(d), detail: defaultDetail(v, i), guess: true})
		}
	}
	var accepted []*access
	for _, cand := range cands {
		if ctx.Err() != nil || p.stopped() {
			break
		}
		if cand.guess {
			// An agent silent to discovery and to every community so far
			// is most likely not there: a dead address must not cost the
			// whole guessing budget in timeouts.
			if !p.answered && p.engine == nil && p.triedCommunities() > 0 {
				break
			}
			if !p.s.Attempt(ctx) {
				break
			}
		}
		detail := cand.detail
		if cand.guess {
			detail = guessLedgerDetail(detail)
		}
		cred := credential{version: version, community: cand.secret, label: cand.detail}
		ok, _, _ := p.tryGet(ctx, cred, detail, nil)
		fp, known := p.c.judge.Judge(protocol, []byte(cand.secret.Reveal()))
		a := &access{cred: cred, obs: otaudit.SNMPAccess{Target: p.addr.Addr(), Version: v, Fingerprint: fp, KnownDefault: known, Accepted: ok}}
		if ok {
			a.obs.Access = "unknown"
			accepted = append(accepted, a)
		}
		p.accesses = append(p.accesses, a)
	}
	return accepted
}

func (p *probe) triedCommunities() int {
	n := 0
	for _, a := range p.accesses {
		if a.cred.version != gosnmp.Version3 {
			n++
		}
	}
	return n
}

// checkV3 guesses default user names at noAuthNoPriv, then tries each
// configured user at its level.
func (p *probe) checkV3(ctx context.Context) {
	for _, name := range p.c.v3Defaults {
		if ctx.Err() != nil || p.stopped() || !p.s.Attempt(ctx) {
			break
		}
		u := &V3User{Name: name}
		cred := credential{version: gosnmp.Version3, user: u, level: gosnmp.NoAuthNoPriv}
		ok, _, _ := p.tryGet(ctx, cred, guessLedgerDetail(v3UserDetail(name, "noAuthNoPriv")), nil)
		p.accesses = append(p.accesses, p.v3Access(cred, ok))
	}
	for i := range p.c.v3Users {
		if ctx.Err() != nil || p.stopped() {
			break
		}
		u := &p.c.v3Users[i]
		cred := credential{version: gosnmp.Version3, user: u, level: levelOf(*u)}
		ok, _, _ := p.tryGet(ctx, cred, v3UserDetail(u.Name, levelName(cred.level)), p.retryBudget())
		p.accesses = append(p.accesses, p.v3Access(cred, ok))
	}
}

func (p *probe) v3Access(cred credential, ok bool) *access {
	a := &access{cred: cred, obs: otaudit.SNMPAccess{Target: p.addr.Addr(), Version: "v3", Accepted: ok,
		SecurityLevel: levelName(cred.level), User: cred.user.Name, EngineID: engineIDString(p.engine.id)}}
	if cred.level&gosnmp.AuthNoPriv != 0 {
		a.obs.AuthProtocol = cred.user.AuthProtocol
	}
	if cred.level&gosnmp.AuthPriv == gosnmp.AuthPriv {
		a.obs.PrivProtocol = cred.user.PrivProtocol
	}
	if ok {
		a.obs.Access = "unknown"
	}
	return a
}
