package opcua

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"time"

	"github.com/gopcua/opcua/ua"
	"github.com/gopcua/opcua/uacp"
	"github.com/gopcua/opcua/uapolicy"
	"github.com/gopcua/opcua/uasc"
)

// channel is one OPC UA connection to a device through the guard: a UA-TCP
// connection and a secure channel built directly on gopcua's uacp and uasc
// packages. It has methods for the read-only services only. opcua.Client
// is not used because it hides requests (namespace reads, keep-alives,
// reconnects) and dials the endpoint URL itself, which would bypass the
// guard; here the endpoint URL the server sees is the real one and the TCP
// connection is the guard's.
type channel struct {
	url   string
	sec   channelSecurity
	guard *guard
	conn  *uacp.Conn
	sc    *uasc.SecureChannel
	// dial is the device's address and port the connection goes to.
	dial netip.AddrPort
	// identity and serverDER are what a signed channel was secured with
	// (nil on None); a session on the channel needs the same.
	identity  *clientIdentity
	serverDER []byte
	// local is the agent's address towards the device.
	local netip.Addr
	// timeout bounds one request/response exchange.
	timeout time.Duration
	// opened is when the channel was opened (wall time: the uasc token
	// renewal it bounds runs on wall time too).
	opened time.Time
	// asyncErrs is where uasc's dispatcher reports what it read that no
	// request waited for, the end of the connection among them.
	asyncErrs chan error
	// lost: a request's failure or the dispatcher showed that the
	// channel cannot carry another request.
	lost   bool
	closed bool
}

// dialParams are what a channel needs besides the endpoint.
type dialParams struct {
	gate      requestGate
	log       *slog.Logger
	timeout   time.Duration
	identity  *clientIdentity // required unless the policy is None
	serverDER []byte          // the endpoint's certificate, unless None
	// pauseAfterConnect is the device workaround, run once TCP is up.
	pauseAfterConnect func(context.Context) error
}

// dialChannel connects to the device at target, puts the guard between
// the client and the device, and opens a secure channel with sec for the
// endpoint url. detail names the connection in the ledger.
func dialChannel(ctx context.Context, p dialParams, target netip.AddrPort, url string, sec channelSecurity, detail string) (*channel, error) {
	if sec.Policy != ua.SecurityPolicyURINone {
		if p.identity == nil {
			return nil, errors.New("a signed channel needs a client certificate")
		}
		if !rsaCertificate(p.serverDER) {
			return nil, errors.New("endpoint has no RSA server certificate to secure the channel with")
		}
	}
	// The connection is a request to the device like any other: it goes
	// through the gate as "tcp connect", so the per-device rate and the
	// ledger cover it, as they do the Modbus collector's and discovery's.
	var server net.Conn
	err := p.gate.Do(ctx, "tcp", "connect", connectDetail(detail), func(ctx context.Context) error {
		var d net.Dialer
		var err error
		server, err = d.DialContext(ctx, "tcp", target.String())
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("connect: %w", err)
	}
	if p.pauseAfterConnect != nil {
		if err := p.pauseAfterConnect(ctx); err != nil {
			server.Close()
			return nil, err
		}
	}
	local := netip.Addr{}
	if a, ok := server.LocalAddr().(*net.TCPAddr); ok {
		local = a.AddrPort().Addr().Unmap()
	}
	client, proxied, err := loopbackPair(ctx, p.timeout)
	if err != nil {
		server.Close()
		return nil, fmt.Errorf("guard: %w", err)
	}
	g := newGuard(ctx, p.gate, sec, target, detail, proxied, server, p.log)
	c := &channel{url: url, sec: sec, guard: g, dial: target, local: local, timeout: p.timeout, opened: time.Now()}
	if sec.Policy != ua.SecurityPolicyURINone {
		c.identity, c.serverDER = p.identity, p.serverDER
	}

	c.conn, err = uacp.NewConn(client, nil)
	if err != nil {
		client.Close()
		g.close(0)
		return nil, err
	}
	hctx, cancel := context.WithTimeout(ctx, p.timeout)
	err = c.conn.Handshake(hctx, url)
	cancel()
	if err != nil {
		c.conn.Close()
		g.close(0)
		return nil, c.explain("hello", err)
	}
	cfg := &uasc.Config{
		SecurityPolicyURI: sec.Policy,
		SecurityMode:      sec.Mode,
		RequestTimeout:    p.timeout,
		// The collector holds a channel for seconds, and a renewal is
		// one more OPN the plan would have to allow for: carries stops
		// reusing a channel long before the token's renewal is due.
		Lifetime: uint32(channelLifetime / time.Millisecond),
	}
	if sec.Policy != ua.SecurityPolicyURINone {
		cfg.Certificate = p.identity.der
		cfg.LocalKey = p.identity.key
		cfg.RemoteCertificate = p.serverDER
		cfg.Thumbprint = uapolicy.Thumbprint(p.serverDER)
	}
	// The dispatcher reports asynchronous errors here without blocking;
	// requests see the same errors through their own results, and
	// carries reads them to learn that the device ended the channel
	// between requests.
	c.asyncErrs = make(chan error, 1)
	c.sc, err = uasc.NewSecureChannel(url, c.conn, cfg, c.asyncErrs)
	if err != nil {
		c.conn.Close()
		g.close(0)
		return nil, err
	}
	octx, cancel := context.WithTimeout(ctx, 2*p.timeout)
	err = c.sc.Open(octx)
	cancel()
	if err != nil {
		c.close()
		return nil, c.explain("open secure channel "+sec.String(), err)
	}
	return c, nil
}

// loopbackPair returns the two ends of a fresh loopback TCP connection:
// the client's (a *net.TCPConn, which uacp requires) and the guard's. Only
// the connection the function itself dialled is accepted, so another local
// process cannot slip in between.
func loopbackPair(ctx context.Context, timeout time.Duration) (*net.TCPConn, net.Conn, error) {
	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, "tcp", "127.0.0.1:0")
	if err != nil {
		return nil, nil, err
	}
	defer ln.Close()
	tl := ln.(*net.TCPListener)
	_ = tl.SetDeadline(time.Now().Add(timeout))
	d := net.Dialer{Timeout: timeout}
	cc, err := d.DialContext(ctx, "tcp", ln.Addr().String())
	if err != nil {
		return nil, nil, err
	}
	client := cc.(*net.TCPConn)
	for {
		s, err := tl.AcceptTCP()
		if err != nil {
			client.Close()
			return nil, nil, err
		}
		if s.RemoteAddr().String() == client.LocalAddr().String() {
			return client, s, nil
		}
		s.Close()
	}
}

// explain prefers the guard's refusal (the reason the connection broke)
// over the client's view of it, which is only a closed connection.
func (c *channel) explain(op string, err error) error {
	if r := c.guard.refused(); r != nil {
		return r
	}
	if f := c.guard.forwardError(); f != nil {
		return fmt.Errorf("%s: %w", op, f)
	}
	return fmt.Errorf("%s: %w", op, err)
}

// channelLifetime is the secure channel lifetime the collector asks for;
// maxChannelReuse is how long after opening it a channel still takes new
// work. gopcua renews the token at 75 % of the lifetime the server
// granted; a quarter of the asked one leaves room for a server that
// grants less than asked.
const (
	channelLifetime = 10 * time.Minute
	maxChannelReuse = channelLifetime / 4
)

// carries reports whether the channel is open to dial with security sec
// (and, when signed, for the same server certificate) and can still carry
// a request: the device has not ended it, no request on it failed in a
// way that leaves it unusable, and it is not near its token renewal.
func (c *channel) carries(dial netip.AddrPort, sec channelSecurity, serverDER []byte) bool {
	if c == nil || c.closed || c.dial != dial || c.sec != sec {
		return false
	}
	if sec.Policy != ua.SecurityPolicyURINone && !bytes.Equal(c.serverDER, serverDER) {
		return false
	}
	return c.usable()
}

// usable: the channel can still carry a request, as far as the agent can
// tell without sending one.
func (c *channel) usable() bool {
	if c == nil || c.closed || c.lost || time.Since(c.opened) >= maxChannelReuse {
		return false
	}
	for {
		select {
		case err := <-c.asyncErrs:
			if channelLost(err) {
				c.lost = true
				return false
			}
			continue
		case <-c.guard.done:
			// The device (or the guard) closed the connection.
			c.lost = true
			return false
		default:
		}
		return true
	}
}

// channelLost reports whether err, the failure of a request or what the
// dispatcher read, means the channel cannot carry another request. A
// service result from the server (Bad_UserAccessDenied, …) is an answer on
// a working channel; the end of the connection, an ERR message, a timeout
// (a late answer may still arrive), an undecodable message or a status
// that names the channel or the connection is not.
func channelLost(err error) bool {
	if err == nil {
		return false
	}
	var status ua.StatusCode
	if !errors.As(err, &status) {
		return true
	}
	switch status {
	case ua.StatusBadSecureChannelClosed, ua.StatusBadSecureChannelIDInvalid, ua.StatusBadSecureChannelTokenUnknown,
		ua.StatusBadTCPSecureChannelUnknown, ua.StatusBadTCPMessageTypeInvalid, ua.StatusBadTCPMessageTooLarge,
		ua.StatusBadTCPInternalError, ua.StatusBadTCPServerTooBusy, ua.StatusBadTCPNotEnoughResources,
		ua.StatusBadConnectionClosed, ua.StatusBadConnectionRejected, ua.StatusBadDisconnect,
		ua.StatusBadCommunicationError, ua.StatusBadNoCommunication, ua.StatusBadTimeout,
		ua.StatusBadDecodingError, ua.StatusBadServerHalted, ua.StatusBadShutdown:
		return true
	}
	return false
}

// call sends one read-only service request, announced to the guard under
// kind, and stores the response in resp (a pointer to the response type).
// A failure that leaves the channel unusable marks it lost.
func (c *channel) call(ctx context.Context, kind, detail string, req ua.Request, authToken *ua.NodeID, resp any) error {
	c.guard.announce(kind, detail)
	err := c.sc.SendRequestWithTimeout(ctx, req, authToken, c.timeout, func(v ua.Response) error {
		return assignResponse(v, resp)
	})
	if err != nil {
		if channelLost(err) || c.guard.refused() != nil || c.guard.forwardError() != nil {
			c.lost = true
		}
		return c.explain(kind, err)
	}
	return nil
}

// assignResponse stores v in the pointer target if the types match.
func assignResponse(v ua.Response, target any) error {
	switch t := target.(type) {
	case **ua.GetEndpointsResponse:
		r, ok := v.(*ua.GetEndpointsResponse)
		*t = r
		return typeErr(ok, v)
	case **ua.FindServersResponse:
		r, ok := v.(*ua.FindServersResponse)
		*t = r
		return typeErr(ok, v)
	case **ua.CreateSessionResponse:
		r, ok := v.(*ua.CreateSessionResponse)
		*t = r
		return typeErr(ok, v)
	case **ua.ActivateSessionResponse:
		r, ok := v.(*ua.ActivateSessionResponse)
		*t = r
		return typeErr(ok, v)
	case **ua.CloseSessionResponse:
		r, ok := v.(*ua.CloseSessionResponse)
		*t = r
		return typeErr(ok, v)
	case **ua.ReadResponse:
		r, ok := v.(*ua.ReadResponse)
		*t = r
		return typeErr(ok, v)
	case **ua.BrowseResponse:
		r, ok := v.(*ua.BrowseResponse)
		*t = r
		return typeErr(ok, v)
	case **ua.BrowseNextResponse:
		r, ok := v.(*ua.BrowseNextResponse)
		*t = r
		return typeErr(ok, v)
	}
	return fmt.Errorf("unexpected response target %T", target)
}

func typeErr(ok bool, v ua.Response) error {
	if ok {
		return nil
	}
	return fmt.Errorf("unexpected response %T", v)
}

// getEndpoints asks for the endpoints of url, which need not be the URL
// the channel was opened for: a server describes the endpoints of the URL
// in the request. detail names the request in the ledger ("": the
// channel's purpose).
func (c *channel) getEndpoints(ctx context.Context, url, detail string) ([]*ua.EndpointDescription, error) {
	var res *ua.GetEndpointsResponse
	if err := c.call(ctx, kindGetEndpoints, detail, &ua.GetEndpointsRequest{EndpointURL: url}, nil, &res); err != nil {
		return nil, err
	}
	return res.Endpoints, nil
}

func (c *channel) findServers(ctx context.Context, url string) ([]*ua.ApplicationDescription, error) {
	var res *ua.FindServersResponse
	if err := c.call(ctx, kindFindServers, "", &ua.FindServersRequest{EndpointURL: url}, nil, &res); err != nil {
		return nil, err
	}
	return res.Servers, nil
}

// session is an OPC UA session on a channel.
type session struct {
	authToken   *ua.NodeID
	serverNonce []byte
	serverCert  []byte
	activated   bool
}

// createSession creates a session for the endpoint endpointURL (the
// channel may have been opened for another URL of the same server);
// serverDER, the endpoint's certificate, stands in for one the server does
// not repeat. The server proves it holds the certificate's key on a signed
// channel before any identity is sent.
func (c *channel) createSession(ctx context.Context, endpointURL string, serverDER []byte, detail string) (*session, error) {
	identity := c.identity
	nonce := make([]byte, 32)
	if _, err := rand.Read(nonce); err != nil {
		return nil, err
	}
	desc := &ua.ApplicationDescription{
		ApplicationURI:  clientApplicationURI,
		ProductURI:      "urn:otaudit",
		ApplicationName: &ua.LocalizedText{EncodingMask: ua.LocalizedTextText, Text: "otaudit read-only audit"},
		ApplicationType: ua.ApplicationTypeClient,
	}
	req := &ua.CreateSessionRequest{
		ClientDescription:       desc,
		EndpointURL:             endpointURL,
		SessionName:             "otaudit read-only audit",
		ClientNonce:             nonce,
		RequestedSessionTimeout: float64(sessionTimeout / time.Millisecond),
	}
	if c.sec.Policy != ua.SecurityPolicyURINone {
		req.ClientCertificate = identity.der
		desc.ApplicationURI = identity.applicationURI
	}
	var res *ua.CreateSessionResponse
	if err := c.call(ctx, kindCreateSession, detail, req, nil, &res); err != nil {
		return nil, err
	}
	s := &session{authToken: res.AuthenticationToken, serverNonce: res.ServerNonce, serverCert: res.ServerCertificate}
	if len(s.serverCert) == 0 {
		s.serverCert = serverDER
	}
	if c.sec.Mode != ua.MessageSecurityModeNone {
		if !rsaCertificate(s.serverCert) {
			return s, errors.New("create session: server certificate is not an RSA certificate")
		}
		var sig []byte
		if res.ServerSignature != nil {
			sig = res.ServerSignature.Signature
		}
		if err := c.sc.VerifySessionSignature(s.serverCert, nonce, sig); err != nil {
			return s, fmt.Errorf("create session: server signature does not verify: %w", err)
		}
	}
	return s, nil
}

// sessionTimeout is what the collector asks for: a session it forgets to
// close (a dropped connection) lapses soon on the server.
const sessionTimeout = time.Minute

// clientApplicationURI names the agent in sessions on unsigned channels;
// on signed ones the client certificate's URI is used.
const clientApplicationURI = "urn:otaudit:agent"

// userToken is the identity for ActivateSession. The password is only
// read here, encrypted for the server when the token policy asks for it.
type userToken struct {
	policyID    string
	tokenPolicy string // the token's SecurityPolicyUri, "" = the channel's
	user        string
	password    string // "" with user "" means anonymous
}

func (c *channel) activateSession(ctx context.Context, s *session, tok userToken, detail string) error {
	// gopcua encodes a nil struct pointer as nothing at all, which leaves
	// the request short: every SignatureData must be present, if empty.
	req := &ua.ActivateSessionRequest{ClientSignature: &ua.SignatureData{}, UserTokenSignature: &ua.SignatureData{}}
	if c.sec.Mode != ua.MessageSecurityModeNone {
		sig, alg, err := c.sc.NewSessionSignature(s.serverCert, s.serverNonce)
		if err != nil {
			return fmt.Errorf("activate session: sign: %w", err)
		}
		req.ClientSignature = &ua.SignatureData{Algorithm: alg, Signature: sig}
	}
	if tok.user == "" {
		req.UserIdentityToken = ua.NewExtensionObject(&ua.AnonymousIdentityToken{PolicyID: tok.policyID})
	} else {
		policy := tok.tokenPolicy
		if policy == "" {
			policy = c.sec.Policy
		}
		if policy != ua.SecurityPolicyURINone && !rsaCertificate(s.serverCert) {
			return errors.New("activate session: no RSA server certificate to encrypt the password with")
		}
		pass, alg, err := c.sc.EncryptUserPassword(policy, tok.password, s.serverCert, s.serverNonce)
		if err != nil {
			return fmt.Errorf("activate session: encrypt password: %w", err)
		}
		req.UserIdentityToken = ua.NewExtensionObject(&ua.UserNameIdentityToken{
			PolicyID: tok.policyID, UserName: tok.user, Password: pass, EncryptionAlgorithm: alg,
		})
	}
	var res *ua.ActivateSessionResponse
	if err := c.call(ctx, kindActivateSession, detail, req, s.authToken, &res); err != nil {
		return err
	}
	s.serverNonce = res.ServerNonce
	s.activated = true
	return nil
}

func (c *channel) closeSession(ctx context.Context, s *session, detail string) error {
	var res *ua.CloseSessionResponse
	return c.call(ctx, kindCloseSession, detail, &ua.CloseSessionRequest{DeleteSubscriptions: true}, s.authToken, &res)
}

func (c *channel) read(ctx context.Context, s *session, nodes []*ua.ReadValueID, detail string) ([]*ua.DataValue, error) {
	for _, n := range nodes {
		if n.DataEncoding == nil {
			// See activateSession: a nil pointer would shorten the request.
			n.DataEncoding = &ua.QualifiedName{}
		}
	}
	var res *ua.ReadResponse
	req := &ua.ReadRequest{TimestampsToReturn: ua.TimestampsToReturnNeither, NodesToRead: nodes}
	if err := c.call(ctx, kindRead, detail, req, s.authToken, &res); err != nil {
		return nil, err
	}
	if len(res.Results) != len(nodes) {
		return nil, fmt.Errorf("read: %d results for %d nodes", len(res.Results), len(nodes))
	}
	return res.Results, nil
}

func (c *channel) browse(ctx context.Context, s *session, nodes []*ua.BrowseDescription, maxRefs uint32, detail string) ([]*ua.BrowseResult, error) {
	var res *ua.BrowseResponse
	req := &ua.BrowseRequest{
		View:                          &ua.ViewDescription{ViewID: ua.NewTwoByteNodeID(0)},
		RequestedMaxReferencesPerNode: maxRefs,
		NodesToBrowse:                 nodes,
	}
	if err := c.call(ctx, kindBrowse, detail, req, s.authToken, &res); err != nil {
		return nil, err
	}
	if len(res.Results) != len(nodes) {
		return nil, fmt.Errorf("browse: %d results for %d nodes", len(res.Results), len(nodes))
	}
	return res.Results, nil
}

// browseNext continues (release false) or releases (true) continuation
// points of an earlier browse.
func (c *channel) browseNext(ctx context.Context, s *session, points [][]byte, release bool, detail string) ([]*ua.BrowseResult, error) {
	var res *ua.BrowseNextResponse
	req := &ua.BrowseNextRequest{ReleaseContinuationPoints: release, ContinuationPoints: points}
	if err := c.call(ctx, kindBrowseNext, detail, req, s.authToken, &res); err != nil {
		return nil, err
	}
	return res.Results, nil
}

// close closes the secure channel (a CloseSecureChannel message when it is
// still open) and the connection, and waits for the guard.
func (c *channel) close() {
	if c.closed {
		return
	}
	c.closed = true
	if c.sc != nil {
		_ = c.sc.Close()
	}
	_ = c.conn.Close()
	c.guard.close(c.timeout)
}
