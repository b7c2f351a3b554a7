package opcua

import (
	"cmp"
	"context"
	"crypto/rsa"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"net/url"
	"os"
	"slices"
	"strconv"
	"strings"
	"syscall"

	"github.com/gopcua/opcua/ua"
	"github.com/gopcua/opcua/uapolicy"
	"github.com/otaudit/otaudit"
	"github.com/otaudit/otaudit/collectors/active"
	"github.com/otaudit/otaudit/collectors/certinfo"
)

// portRun is one port of one device in one run.
type portRun struct {
	p                 *Prober
	gate              requestGate
	limits            active.Limits
	target            netip.Addr
	port              uint16
	emit              func(otaudit.Observation)
	attempt           func(context.Context) bool
	pauseAfterConnect func(context.Context) error
	log               *slog.Logger

	// local is the agent's own address towards the device, once known.
	local netip.Addr
	// sessionRetries is what is left of the port's one CreateSession
	// asked again after the device ended a held channel (openSession).
	sessionRetries int
	// held is the one channel the run keeps open between its steps: the
	// next step that needs the same connection and security reuses it
	// instead of opening one more (every channel costs the device a
	// connection, a Hello, an OpenSecureChannel — RSA work on a signed one
	// — and a CloseSecureChannel). One at a time: a step that needs
	// another channel closes it first, so the device never sees two
	// connections from one probe at once.
	held *channel
}

func (r *portRun) addr() netip.AddrPort { return netip.AddrPortFrom(r.target, r.port) }

func (r *portRun) params(identity *clientIdentity, serverDER []byte) dialParams {
	return dialParams{
		gate: r.gate, log: r.log, timeout: r.limits.Timeout,
		identity: identity, serverDER: serverDER, pauseAfterConnect: r.pauseAfterConnect,
	}
}

func (r *portRun) observation(kind otaudit.ObservationKind, count int64) otaudit.Observation {
	now := r.p.cfg.Now()
	return otaudit.Observation{Kind: kind, Source: "opcua:active", FirstSeen: now, LastSeen: now, Count: count}
}

// errNoChannelLeft: a step needed a new channel and has opened all the
// plan allows it.
var errNoChannelLeft = errors.New("no secure channel left in the plan for this step")

// channelFor returns a channel to ap with security sec, for the endpoint
// url: the held one when it is to the same address with the same security
// and can still carry requests, else a new one, opened when *budget (the
// channels the plan gives the step) allows and then held. fresh reports a
// new channel.
func (r *portRun) channelFor(ctx context.Context, ap netip.AddrPort, url string, sec channelSecurity, serverDER []byte, detail string, budget *int) (ch *channel, fresh bool, err error) {
	if r.held.carries(ap, sec, serverDER) {
		return r.held, false, nil
	}
	r.release()
	if *budget <= 0 {
		return nil, false, errNoChannelLeft
	}
	var identity *clientIdentity
	if sec.Policy != ua.SecurityPolicyURINone {
		if identity, err = r.p.clientIdentity(); err != nil {
			return nil, false, err
		}
	}
	*budget--
	ch, err = dialChannel(ctx, r.params(identity, serverDER), ap, url, sec, detail)
	if err != nil {
		return nil, true, err
	}
	r.held = ch
	return ch, true, nil
}

// release closes the held channel, if any.
func (r *portRun) release() {
	if r.held != nil {
		r.held.close()
		r.held = nil
	}
}

// run probes the port: endpoints first (the device's error if they cannot
// be read), then the anonymous session and the logins, whose failures are
// observations.
func (r *portRun) run(ctx context.Context) error {
	defer r.release()
	url := discoveryURL(r.target, r.port)
	eps, servers, answered, err := r.discover(ctx, url)
	if answered {
		o := r.observation(otaudit.KindFlow, 1)
		o.Flow = &otaudit.Flow{Client: r.local, Server: r.target, Transport: otaudit.TCP, ServerPort: r.port,
			Protocol: "opcua", ServerAnswered: true, Connections: 1}
		r.emit(o)
	}
	if err != nil {
		return fmt.Errorf("opcua %s: %w", r.addr(), err)
	}
	eps = append(eps, r.advertised(ctx, url, eps)...)
	eps = uniqueEndpoints(eps)
	r.emitEndpoints(eps, servers)
	if err := r.anonymous(ctx, eps); err != nil {
		return fmt.Errorf("opcua %s: %w", r.addr(), err)
	}
	if err := r.logins(ctx, eps); err != nil {
		return fmt.Errorf("opcua %s: %w", r.addr(), err)
	}
	return nil
}

// noneSecurity is the discovery channel's security.
var noneSecurity = channelSecurity{Policy: ua.SecurityPolicyURINone, Mode: ua.MessageSecurityModeNone}

// discover reads the endpoints and the server list over a None channel,
// retrying a connection that failed transiently within the retry budget.
// The channel stays held for the steps after. answered reports whether
// the port spoke UA-TCP at all.
func (r *portRun) discover(ctx context.Context, url string) (eps []*ua.EndpointDescription, servers []*ua.ApplicationDescription, answered bool, err error) {
	detail := discoveryDetail(url)
	budget := 1 + max(r.limits.Retries, 0)
	for budget > 0 {
		var ch *channel
		ch, _, err = r.channelFor(ctx, r.addr(), url, noneSecurity, nil, detail, &budget)
		if ch != nil {
			answered = true
			r.local = ch.local
			eps, err = ch.getEndpoints(ctx, url, "")
			if err == nil {
				var ferr error
				// FindServers is informational: a server that refuses it
				// still described its endpoints.
				if servers, ferr = ch.findServers(ctx, url); ferr != nil {
					r.log.Info("find servers failed", "error", ferr)
					if isRefusal(ferr) {
						err = ferr
					}
				}
			}
			if err != nil {
				r.release()
			}
		}
		if err == nil || !transient(err) || ctx.Err() != nil {
			break
		}
		if budget > 0 {
			r.log.Info("discovery failed, retrying", "error", err)
		}
	}
	if err != nil {
		return nil, nil, answered, fmt.Errorf("get endpoints: %w", err)
	}
	return eps, servers, answered, nil
}

// advertised asks the server's own endpoint URLs that point at this
// address, when they differ from the discovery URL: some servers describe
// more (or only) there. A server describes the endpoints of the URL in the
// request, so a URL on the discovery port is asked on the discovery
// channel; one on another port of the address gets a channel of its own
// (one per port). Failures are logged; the discovery result stands. The
// endpoints come back in the order of the URLs.
func (r *portRun) advertised(ctx context.Context, discovery string, eps []*ua.EndpointDescription) []*ua.EndpointDescription {
	var urls []string
	for _, ep := range eps {
		u := ep.EndpointURL
		if u == "" || sameURL(u, discovery) || slices.Contains(urls, u) {
			continue
		}
		if _, ok := r.dialAddr(u); !ok {
			continue
		}
		urls = append(urls, u)
	}
	if len(urls) > maxAdvertisedURLs {
		urls = urls[:maxAdvertisedURLs]
	}
	// The discovery port first, while its channel is held; then the other
	// ports, each channel replacing the one before.
	order := make([]int, len(urls))
	for i := range order {
		order[i] = i
	}
	slices.SortStableFunc(order, func(i, j int) int {
		ai, _ := r.dialAddr(urls[i])
		aj, _ := r.dialAddr(urls[j])
		return cmp.Compare(r.portRank(ai), r.portRank(aj))
	})
	detail := advertisedDetail(r.port)
	// At most one new channel per URL: the plan's maxAdvertisedURLs.
	budget := len(urls)
	found := make([][]*ua.EndpointDescription, len(urls))
	for _, i := range order {
		u := urls[i]
		ap, _ := r.dialAddr(u)
		ch, _, err := r.channelFor(ctx, ap, u, noneSecurity, nil, detail, &budget)
		if err != nil {
			r.log.Info("advertised endpoint URL unreachable", "url", u, "error", err)
			continue
		}
		more, err := ch.getEndpoints(ctx, u, detail)
		if err != nil {
			r.log.Info("get endpoints on advertised URL failed", "url", u, "error", err)
			continue
		}
		found[i] = more
	}
	return slices.Concat(found...)
}

// portRank orders addresses for channel reuse: the run's own port first,
// then by port.
func (r *portRun) portRank(ap netip.AddrPort) int {
	if ap == r.addr() {
		return -1
	}
	return int(ap.Port())
}

// dialAddr is where to connect for an endpoint URL: the target's address
// at the URL's port. A URL naming another address is another device and
// is not followed; a host name (often the server's own, unresolvable
// name) is taken to mean this device, since the server advertised it.
func (r *portRun) dialAddr(endpointURL string) (netip.AddrPort, bool) {
	u, err := url.Parse(endpointURL)
	if err != nil || u.Scheme != "opc.tcp" {
		return netip.AddrPort{}, false
	}
	if ip, err := netip.ParseAddr(u.Hostname()); err == nil && ip.Unmap() != r.target {
		return netip.AddrPort{}, false
	}
	port := uint64(DefaultPort)
	if ps := u.Port(); ps != "" {
		if port, err = strconv.ParseUint(ps, 10, 16); err != nil || port == 0 {
			return netip.AddrPort{}, false
		}
	}
	return netip.AddrPortFrom(r.target, uint16(port)), true
}

func sameURL(a, b string) bool {
	return strings.EqualFold(strings.TrimRight(a, "/"), strings.TrimRight(b, "/"))
}

// uniqueEndpoints drops repeats of an endpoint (same URL, policy and
// mode) that several GetEndpoints calls returned.
func uniqueEndpoints(eps []*ua.EndpointDescription) []*ua.EndpointDescription {
	var out []*ua.EndpointDescription
	seen := map[string]bool{}
	for _, ep := range eps {
		if ep == nil {
			continue
		}
		k := ep.EndpointURL + "\x00" + ep.SecurityPolicyURI + "\x00" + ep.SecurityMode.String()
		if seen[k] {
			continue
		}
		seen[k] = true
		out = append(out, ep)
	}
	return out
}

// emitEndpoints emits each endpoint with its security, the secure-channel
// offer it makes, and what the server says about itself in its
// application description.
func (r *portRun) emitEndpoints(eps []*ua.EndpointDescription, servers []*ua.ApplicationDescription) {
	certs := map[string]*otaudit.Certificate{}
	for _, ep := range eps {
		e := &otaudit.Endpoint{
			Protocol: "opcua", Server: r.target, URL: ep.EndpointURL,
			SecurityPolicy: ep.SecurityPolicyURI, SecurityMode: modeName(ep.SecurityMode),
		}
		for _, t := range ep.UserIdentityTokens {
			if t == nil {
				continue
			}
			e.UserTokens = append(e.UserTokens, otaudit.UserToken{
				PolicyID: t.PolicyID, Type: tokenTypeName(t.TokenType), SecurityPolicy: t.SecurityPolicyURI,
			})
		}
		if len(ep.ServerCertificate) > 0 {
			key := string(ep.ServerCertificate)
			c, ok := certs[key]
			if !ok {
				var err error
				if c, err = certinfo.Describe(ep.ServerCertificate); err != nil {
					r.log.Warn("server certificate unreadable", "url", ep.EndpointURL, "error", err)
				}
				certs[key] = c
			}
			e.Certificate = c
		}
		o := r.observation(otaudit.KindEndpoint, 1)
		o.Endpoint = e
		r.emit(o)

		// The offer, not a channel anyone opened: no client.
		sc := r.observation(otaudit.KindSecureChannel, 1)
		sc.SecureChannel = &otaudit.SecureChannel{
			Protocol: "opcua", Server: r.target, Policy: ep.SecurityPolicyURI, Endpoint: ep.EndpointURL,
			Protected: ep.SecurityPolicyURI != ua.SecurityPolicyURINone && ep.SecurityMode != ua.MessageSecurityModeNone,
		}
		r.emit(sc)
	}
	var app *ua.ApplicationDescription
	for _, ep := range eps {
		if ep.Server != nil {
			app = ep.Server
			break
		}
	}
	if app == nil && len(servers) > 0 {
		app = servers[0]
	}
	if app == nil {
		return
	}
	id := &otaudit.DeviceIdentity{IP: r.target, Method: "opcua-application", ProductCode: clean(app.ProductURI)}
	if app.ApplicationName != nil {
		id.Name = clean(app.ApplicationName.Text)
	}
	if id.Name != "" || id.ProductCode != "" {
		o := r.observation(otaudit.KindIdentity, 1)
		o.Identity = id
		r.emit(o)
	}
}

// supportedPolicy: gopcua can speak it (None is handled separately).
func supportedPolicy(uri string) bool { return slices.Contains(uapolicy.SupportedPolicies(), uri) }

// pickEndpoint chooses the endpoint to log in on with token type tt: the
// guard can read None and Sign channels, so None comes first, then Sign,
// and SignAndEncrypt (opaque to the guard) only when nothing else offers
// the token. ok filters the token (e.g. one that would send a password in
// clear is not used).
func (r *portRun) pickEndpoint(eps []*ua.EndpointDescription, tt ua.UserTokenType, ok func(*ua.EndpointDescription, *ua.UserTokenPolicy) bool) (*ua.EndpointDescription, *ua.UserTokenPolicy) {
	rank := func(ep *ua.EndpointDescription) int {
		switch {
		case ep.SecurityPolicyURI == ua.SecurityPolicyURINone && ep.SecurityMode == ua.MessageSecurityModeNone:
			return 0
		case ep.SecurityMode == ua.MessageSecurityModeSign:
			return 1
		case ep.SecurityMode == ua.MessageSecurityModeSignAndEncrypt:
			return 2
		}
		return -1
	}
	var best *ua.EndpointDescription
	var bestTok *ua.UserTokenPolicy
	for _, ep := range eps {
		rk := rank(ep)
		if rk < 0 || rk > 0 && (!supportedPolicy(ep.SecurityPolicyURI) || !rsaCertificate(ep.ServerCertificate)) {
			continue
		}
		if _, ok := r.dialAddr(ep.EndpointURL); !ok {
			continue
		}
		for _, t := range ep.UserIdentityTokens {
			if t == nil || t.TokenType != tt || ok != nil && !ok(ep, t) {
				continue
			}
			if best == nil || rk < rank(best) || rk == rank(best) && ep.SecurityLevel > best.SecurityLevel {
				best, bestTok = ep, t
			}
			break
		}
	}
	return best, bestTok
}

// canEncryptFor reports whether a password can be encrypted for the
// server's certificate under policy (gopcua refuses, for instance, a
// 1024-bit key with Basic256Sha256): checked before an attempt is spent.
func canEncryptFor(policy string, der []byte) bool {
	c, err := x509.ParseCertificate(der)
	if err != nil {
		return false
	}
	key, ok := c.PublicKey.(*rsa.PublicKey)
	if !ok {
		return false
	}
	_, err = uapolicy.Asymmetric(policy, nil, key)
	return err == nil
}

// channelOpenError is a session's channel that could not be had: the
// device refused or dropped the connection or the secure channel, or the
// step has no channel left in the plan.
type channelOpenError struct{ err error }

func (e *channelOpenError) Error() string { return e.err.Error() }
func (e *channelOpenError) Unwrap() error { return e.err }

// openSession creates a session on ep: on the held channel when it carries
// ep's connection and security (the discovery channel, for the common
// None endpoint), else on a new channel, within *budget (the channels the
// plan gives the step), which is then held. If the held channel turns out
// to be gone when CreateSession is sent — the device closed it between
// two steps, and no identity has been sent yet — the session is asked
// again, once per port (the plan's one extra CreateSession), on a new
// channel. The channel is returned with the session, also on a failed
// CreateSession; a channel that could not be had is a *channelOpenError.
func (r *portRun) openSession(ctx context.Context, ep *ua.EndpointDescription, channelDetail, detail string, budget *int) (*channel, *session, error) {
	ap, _ := r.dialAddr(ep.EndpointURL)
	sec := channelSecurity{Policy: ep.SecurityPolicyURI, Mode: ep.SecurityMode}
	ch, fresh, err := r.channelFor(ctx, ap, ep.EndpointURL, sec, ep.ServerCertificate, channelDetail, budget)
	if err != nil {
		return nil, nil, &channelOpenError{err}
	}
	s, err := ch.createSession(ctx, ep.EndpointURL, ep.ServerCertificate, detail)
	if err == nil || fresh || !ch.lost || isRefusal(err) || r.sessionRetries <= 0 || *budget <= 0 {
		return ch, s, err
	}
	r.sessionRetries--
	r.log.Info("the device ended the secure channel kept open; asking again on a new one", "error", err)
	if ch, _, err = r.channelFor(ctx, ap, ep.EndpointURL, sec, ep.ServerCertificate, channelDetail, budget); err != nil {
		return nil, nil, &channelOpenError{err}
	}
	s, err = ch.createSession(ctx, ep.EndpointURL, ep.ServerCertificate, detail)
	return ch, s, err
}

// anonymous opens an anonymous session where one is offered and records
// what it could see and do. Only a guard refusal is an error; a session
// the server refuses is an observation.
func (r *portRun) anonymous(ctx context.Context, eps []*ua.EndpointDescription) error {
	ep, tok := r.pickEndpoint(eps, ua.UserTokenTypeAnonymous, nil)
	if ep == nil {
		r.log.Debug("no endpoint offers anonymous access")
		return nil
	}
	detail := anonymousDetail(r.port)
	sec := channelSecurity{Policy: ep.SecurityPolicyURI, Mode: ep.SecurityMode}
	probe := &otaudit.LoginProbe{Protocol: "opcua", Server: r.target, Endpoint: ep.EndpointURL, Method: "anonymous"}
	notes := []string{sec.String()}
	var answered int64
	defer func() {
		probe.Detail = strings.Join(notes, "; ")
		o := r.observation(otaudit.KindLoginProbe, answered)
		o.LoginProbe = probe
		r.emit(o)
	}()

	budget := anonymousChannels
	ch, s, err := r.openSession(ctx, ep, detail, detail, &budget)
	var chErr *channelOpenError
	if errors.As(err, &chErr) {
		notes = append(notes, "secure channel: "+errText(err))
		return refusalOnly(err)
	}
	if err != nil {
		notes = append(notes, "create session: "+errText(err))
		if s != nil {
			_ = ch.closeSession(ctx, s, detail)
		}
		return refusalOnly(err)
	}
	answered++
	err = ch.activateSession(ctx, s, userToken{policyID: tok.PolicyID}, detail)
	if err != nil {
		notes = append(notes, "activate session: "+errText(err))
		_ = ch.closeSession(ctx, s, detail)
		return refusalOnly(err)
	}
	answered++
	probe.Accepted = true

	info, n, err := r.readServerInfo(ctx, ch, s, detail)
	answered += n
	if err != nil {
		notes = append(notes, "read server status: "+errText(err))
	}
	if isRefusal(err) {
		return err
	}
	if id := info.identity(r.target); id != nil {
		o := r.observation(otaudit.KindIdentity, n)
		o.Identity = id
		r.emit(o)
	}
	notes = append(notes, info.notes()...)

	sample, n, err := r.sampleAccess(ctx, ch, s, info, detail)
	answered += n
	probe.Sampled, probe.WritableNodes, probe.ExecutableMethods = sample.sampled, sample.writable, sample.executable
	if sample.truncated {
		notes = append(notes, fmt.Sprintf("sample bounded at %d nodes, depth %d", r.p.cfg.MaxSampledNodes, r.p.cfg.MaxBrowseDepth))
	}
	if err != nil {
		notes = append(notes, "sample access: "+errText(err))
		if isRefusal(err) {
			return err
		}
	}
	if err := ch.closeSession(ctx, s, detail); err == nil {
		answered++
	} else if isRefusal(err) {
		return err
	}
	return nil
}

// logins tries the configured and default user names on the endpoint that
// protects the password best for the guard's view, within the zone's
// attempt budget, and stops at anything that looks like a lockout. The
// attempts share one secure channel — the held one when its security is
// the endpoint's — and a new one is opened only when the device ended it,
// at most loginChannels of them.
func (r *portRun) logins(ctx context.Context, eps []*ua.EndpointDescription) error {
	n := r.p.loginAttempts(r.limits)
	if n == 0 {
		return nil
	}
	// Never send a password the wire would carry in clear.
	ep, tok := r.pickEndpoint(eps, ua.UserTokenTypeUserName, func(ep *ua.EndpointDescription, t *ua.UserTokenPolicy) bool {
		policy := t.SecurityPolicyURI
		if policy == "" {
			policy = ep.SecurityPolicyURI
		}
		if policy == ua.SecurityPolicyURINone {
			return ep.SecurityMode == ua.MessageSecurityModeSignAndEncrypt
		}
		return supportedPolicy(policy) && canEncryptFor(policy, ep.ServerCertificate)
	})
	if ep == nil {
		r.log.Info("no endpoint takes a user name without sending the password in clear: no login attempted")
		return nil
	}
	ap, _ := r.dialAddr(ep.EndpointURL)
	sec := channelSecurity{Policy: ep.SecurityPolicyURI, Mode: ep.SecurityMode}
	channels := min(loginChannels, n)
	failures := 0
	for _, login := range r.p.cfg.Logins[:n] {
		// Spend an attempt only when a channel is at hand for it.
		if channels == 0 && !r.held.carries(ap, sec, ep.ServerCertificate) {
			r.log.Warn("stopping login attempts: the device ended every secure channel the plan allows for them")
			break
		}
		if !r.attempt(ctx) {
			break
		}
		outcome, err := r.login(ctx, ep, tok, login, &channels)
		if err != nil {
			return err
		}
		if outcome.accepted {
			continue
		}
		failures++
		if outcome.stop || outcome.connectFailed && failures > 1 {
			r.log.Warn("stopping login attempts: the device looks like it is locking out or refusing", "reason", outcome.reason)
			break
		}
	}
	return nil
}

type loginOutcome struct {
	accepted, stop, connectFailed bool
	reason                        string
}

// login makes one attempt and emits its LoginProbe. The password is
// revealed only to encrypt it; what is kept is the user name and whether
// the pair is a known default. channels is what is left of the logins'
// channel budget.
func (r *portRun) login(ctx context.Context, ep *ua.EndpointDescription, tok *ua.UserTokenPolicy, l Login, channels *int) (loginOutcome, error) {
	detail := l.detail(r.port)
	sec := channelSecurity{Policy: ep.SecurityPolicyURI, Mode: ep.SecurityMode}
	known := l.KnownDefault
	if !known {
		_, known = r.p.cfg.Judge.Judge("opcua", []byte(l.Password.Reveal()))
	}
	probe := &otaudit.LoginProbe{Protocol: "opcua", Server: r.target, Endpoint: ep.EndpointURL,
		Method: "password", User: l.User, KnownDefault: known}
	var answered int64
	var out loginOutcome
	defer func() {
		probe.Detail = sec.String()
		if out.reason != "" {
			probe.Detail += "; " + out.reason
		}
		o := r.observation(otaudit.KindLoginProbe, answered)
		o.LoginProbe = probe
		r.emit(o)
	}()
	ch, s, err := r.openSession(ctx, ep, loginChannelDetail(r.port), detail, channels)
	var chErr *channelOpenError
	if errors.As(err, &chErr) {
		out = loginOutcome{connectFailed: true, stop: lockoutLike(err), reason: "secure channel: " + errText(err)}
		return out, refusalOnly(err)
	}
	if err != nil {
		out = loginOutcome{stop: true, reason: "create session: " + errText(err)}
		if s != nil {
			_ = ch.closeSession(ctx, s, detail)
		}
		return out, refusalOnly(err)
	}
	answered++
	err = ch.activateSession(ctx, s, userToken{policyID: tok.PolicyID, tokenPolicy: tok.SecurityPolicyURI,
		user: l.User, password: l.Password.Reveal()}, detail)
	if err == nil {
		answered++
		probe.Accepted = true
		out = loginOutcome{accepted: true}
	} else {
		if errors.Is(err, ua.StatusBadUserAccessDenied) {
			answered++
		}
		out = loginOutcome{stop: lockoutLike(err), reason: "activate session: " + errText(err)}
	}
	if cerr := ch.closeSession(ctx, s, detail); isRefusal(cerr) {
		return out, cerr
	}
	return out, refusalOnly(err)
}

// lockoutLike: answers after which more guesses would be unkind or
// pointless. A plain Bad_UserAccessDenied is the normal "wrong password".
func lockoutLike(err error) bool {
	// Anything else stops: BadTooManySessions, BadSecurityChecksFailed,
	// BadTcpServerTooBusy, a token or certificate the server rejects (every
	// further attempt would fail the same way), timeouts, resets and
	// refused connections (the device is struggling or shutting us out).
	return !errors.Is(err, ua.StatusBadUserAccessDenied)
}

// transient errors are worth the one retry the limits may allow: the
// connection, not the server's answer, failed.
func transient(err error) bool {
	if isRefusal(err) {
		return false
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return true
	}
	return errors.Is(err, io.EOF) || errors.Is(err, syscall.ECONNRESET) || errors.Is(err, os.ErrDeadlineExceeded) ||
		errors.Is(err, ua.StatusBadTimeout)
}

// isRefusal: the guard or the session refused to send a request. That is
// a defect of the collector, never an observation of the device.
func isRefusal(err error) bool {
	return errors.Is(err, active.ErrNotAllowed) || errors.Is(err, active.ErrOverPlan)
}

func refusalOnly(err error) error {
	if isRefusal(err) {
		return err
	}
	return nil
}

// errText renders an error for an observation's detail: short, one line.
func errText(err error) string {
	if err == nil {
		return ""
	}
	s := strings.ReplaceAll(err.Error(), "\n", " ")
	if len(s) > 200 {
		s = s[:200] + "…"
	}
	return s
}

// clean trims what a device says about itself to printable text.
func clean(s string) string {
	s = strings.TrimSpace(s)
	s = strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f {
			return -1
		}
		return r
	}, s)
	if len(s) > 256 {
		s = s[:256]
	}
	return s
}

func modeName(m ua.MessageSecurityMode) string {
	switch m {
	case ua.MessageSecurityModeNone:
		return "None"
	case ua.MessageSecurityModeSign:
		return "Sign"
	case ua.MessageSecurityModeSignAndEncrypt:
		return "SignAndEncrypt"
	}
	return "Invalid(" + strconv.Itoa(int(m)) + ")"
}

func tokenTypeName(t ua.UserTokenType) string {
	switch t {
	case ua.UserTokenTypeAnonymous:
		return "Anonymous"
	case ua.UserTokenTypeUserName:
		return "UserName"
	case ua.UserTokenTypeCertificate:
		return "Certificate"
	case ua.UserTokenTypeIssuedToken:
		return "IssuedToken"
	}
	return "Unknown(" + strconv.Itoa(int(t)) + ")"
}

// policyName is the short name of a SecurityPolicyUri ("Basic256Sha256").
func policyName(uri string) string {
	if i := strings.LastIndexByte(uri, '#'); i >= 0 {
		return uri[i+1:]
	}
	return uri
}
