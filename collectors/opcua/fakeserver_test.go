package opcua

import (
	"context"
	"crypto/x509"
	"fmt"
	"io"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gopcua/opcua/id"
	"github.com/gopcua/opcua/ua"
	"github.com/gopcua/opcua/uacp"
	"github.com/gopcua/opcua/uasc"
	"github.com/otaudit/otaudit"
)

// fakeServer is a minimal OPC UA server on 127.0.0.1 built from gopcua's
// uacp/uasc server side (gopcua's own server package needs a module the
// project does not have): None/None only, anonymous accepted, every user
// name refused, BuildInfo and one writable variable. It records the
// service request types it received, per connection (one connection is
// one secure channel).
type fakeServer struct {
	port uint16
	cert []byte
	how  fakeBehaviour

	mu       sync.Mutex
	seen     []string
	conns    [][]string // the requests of each connection, in accept order
	sessions int        // CreateSession requests received
}

// fakeBehaviour is how the fake misbehaves; the zero value behaves.
type fakeBehaviour struct {
	// endpointURL replaces the URL the fake advertises (default its own
	// address and port, path /fake).
	endpointURL string
	// dropAfterDenied closes the connection after a refused user-name
	// login, as a server that ends the channel of a failed login does: on
	// the next request, unanswered (closing right after the answer would
	// race the client's read of it against its view of the closed
	// connection).
	dropAfterDenied bool
	// dropOnSession closes the connection, unanswered, on receiving the
	// CreateSession with this number (1-based, over all connections).
	dropOnSession int
}

func (f *fakeServer) received() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.seen...)
}

// connections returns the requests received on each connection.
func (f *fakeServer) connections() [][]string {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := make([][]string, len(f.conns))
	for i, c := range f.conns {
		out[i] = append([]string(nil), c...)
	}
	return out
}

func startFakeServer(t *testing.T, cert []byte) *fakeServer {
	t.Helper()
	return startFakeServerWith(t, cert, fakeBehaviour{})
}

func startFakeServerWith(t *testing.T, cert []byte, how fakeBehaviour) *fakeServer {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	l, err := uacp.Listen(ctx, "opc.tcp://127.0.0.1:0", nil)
	if err != nil {
		t.Fatal(err)
	}
	f := &fakeServer{cert: cert, how: how}
	_, portStr, _ := netSplit(l.Addr().String())
	fmt.Sscan(portStr, &f.port)
	var wg sync.WaitGroup
	t.Cleanup(func() { cancel(); l.Close(); wg.Wait() })
	wg.Add(1)
	go func() {
		defer wg.Done()
		for id := uint32(1); ; id++ {
			c, err := l.Accept(ctx)
			if err != nil {
				return
			}
			f.mu.Lock()
			conn := len(f.conns)
			f.conns = append(f.conns, nil)
			f.mu.Unlock()
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer c.Close()
				f.serve(ctx, c, id, conn)
			}()
		}
	}()
	return f
}

func (f *fakeServer) url() string {
	if f.how.endpointURL != "" {
		return f.how.endpointURL
	}
	return fmt.Sprintf("opc.tcp://127.0.0.1:%d/fake", f.port)
}

func (f *fakeServer) endpoints() []*ua.EndpointDescription {
	return []*ua.EndpointDescription{{
		EndpointURL: f.url(), ServerCertificate: f.cert,
		Server: &ua.ApplicationDescription{ApplicationURI: "urn:fake", ProductURI: "urn:acme:plc",
			ApplicationName: &ua.LocalizedText{EncodingMask: ua.LocalizedTextText, Text: "Acme PLC"}, ApplicationType: ua.ApplicationTypeServer},
		SecurityMode: ua.MessageSecurityModeNone, SecurityPolicyURI: ua.SecurityPolicyURINone,
		UserIdentityTokens: []*ua.UserTokenPolicy{{PolicyID: "anon", TokenType: ua.UserTokenTypeAnonymous},
			{PolicyID: "user", TokenType: ua.UserTokenTypeUserName, SecurityPolicyURI: ua.SecurityPolicyURIBasic256Sha256}},
		SecurityLevel: 0,
	}}
}

func (f *fakeServer) serve(ctx context.Context, c *uacp.Conn, chID uint32, conn int) {
	cfg := &uasc.Config{SecurityPolicyURI: ua.SecurityPolicyURINone, SecurityMode: ua.MessageSecurityModeNone, Lifetime: 3600000}
	sc, err := uasc.NewServerSecureChannel("", c, cfg, make(chan error, 1), chID, 1, chID)
	if err != nil {
		return
	}
	defer sc.Close()
	denied := false // the last request was a refused login
	for ctx.Err() == nil {
		msg := sc.Receive(ctx)
		if msg.Err == io.EOF {
			return
		}
		if msg.Err != nil {
			continue
		}
		req := msg.Request()
		if req == nil {
			continue
		}
		name := strings.TrimPrefix(fmt.Sprintf("%T", req), "*ua.")
		f.mu.Lock()
		f.seen = append(f.seen, "*ua."+name)
		f.conns[conn] = append(f.conns[conn], strings.TrimSuffix(name, "Request"))
		if _, ok := req.(*ua.CreateSessionRequest); ok {
			f.sessions++
		}
		drop := f.how.dropOnSession > 0 && f.sessions == f.how.dropOnSession
		f.mu.Unlock()
		if drop || denied && f.how.dropAfterDenied {
			return
		}
		hdr := &ua.ResponseHeader{Timestamp: time.Now(), RequestHandle: req.Header().RequestHandle, ServiceResult: ua.StatusOK,
			ServiceDiagnostics: &ua.DiagnosticInfo{}, AdditionalHeader: ua.NewExtensionObject(nil)}
		var resp ua.Response
		switch r := req.(type) {
		case *ua.GetEndpointsRequest:
			resp = &ua.GetEndpointsResponse{ResponseHeader: hdr, Endpoints: f.endpoints()}
		case *ua.FindServersRequest:
			resp = &ua.FindServersResponse{ResponseHeader: hdr, Servers: []*ua.ApplicationDescription{f.endpoints()[0].Server}}
		case *ua.CreateSessionRequest:
			resp = &ua.CreateSessionResponse{ResponseHeader: hdr, SessionID: ua.NewNumericNodeID(1, 1),
				AuthenticationToken: ua.NewNumericNodeID(1, 99), RevisedSessionTimeout: 60000, ServerNonce: make([]byte, 32),
				ServerEndpoints: f.endpoints(), ServerSignature: &ua.SignatureData{}}
		case *ua.ActivateSessionRequest:
			_, anon := r.UserIdentityToken.Value.(*ua.AnonymousIdentityToken)
			if !anon {
				hdr.ServiceResult = ua.StatusBadUserAccessDenied
			}
			denied = !anon
			resp = &ua.ActivateSessionResponse{ResponseHeader: hdr, ServerNonce: make([]byte, 32)}
		case *ua.ReadRequest:
			res := make([]*ua.DataValue, len(r.NodesToRead))
			for i, n := range r.NodesToRead {
				res[i] = f.value(n)
			}
			resp = &ua.ReadResponse{ResponseHeader: hdr, Results: res}
		case *ua.BrowseRequest:
			res := make([]*ua.BrowseResult, len(r.NodesToBrowse))
			for i, n := range r.NodesToBrowse {
				res[i] = &ua.BrowseResult{StatusCode: ua.StatusOK}
				if n.NodeID.IntID() == id.ObjectsFolder && n.NodeID.Namespace() == 0 {
					res[i].References = []*ua.ReferenceDescription{
						ref(ua.NewNumericNodeID(0, id.Server), ua.NodeClassObject),
						ref(ua.NewStringNodeID(1, "PLC1.Setpoint"), ua.NodeClassVariable),
						ref(ua.NewStringNodeID(1, "PLC1.Temperature"), ua.NodeClassVariable),
						ref(ua.NewStringNodeID(1, "PLC1.Reset"), ua.NodeClassMethod),
					}
				}
			}
			resp = &ua.BrowseResponse{ResponseHeader: hdr, Results: res}
		case *ua.CloseSessionRequest:
			resp = &ua.CloseSessionResponse{ResponseHeader: hdr}
		default:
			resp = &ua.ServiceFault{ResponseHeader: hdr}
			hdr.ServiceResult = ua.StatusBadServiceUnsupported
		}
		if err := sc.SendResponseWithContext(ctx, msg.RequestID, resp); err != nil {
			return
		}
	}
}

func ref(n *ua.NodeID, class ua.NodeClass) *ua.ReferenceDescription {
	return &ua.ReferenceDescription{ReferenceTypeID: ua.NewNumericNodeID(0, id.HasComponent), IsForward: true,
		NodeID: ua.NewExpandedNodeID(n, "", 0), BrowseName: &ua.QualifiedName{}, DisplayName: &ua.LocalizedText{},
		NodeClass: class, TypeDefinition: ua.NewExpandedNodeID(ua.NewTwoByteNodeID(0), "", 0)}
}

func (f *fakeServer) value(n *ua.ReadValueID) *ua.DataValue {
	good := func(v any) *ua.DataValue {
		return &ua.DataValue{EncodingMask: ua.DataValueValue, Value: ua.MustVariant(v)}
	}
	switch {
	case n.AttributeID == ua.AttributeIDUserAccessLevel && n.NodeID.StringID() == "PLC1.Setpoint":
		return good(uint8(ua.AccessLevelTypeCurrentRead | ua.AccessLevelTypeCurrentWrite))
	case n.AttributeID == ua.AttributeIDUserAccessLevel:
		return good(uint8(ua.AccessLevelTypeCurrentRead))
	case n.AttributeID == ua.AttributeIDUserExecutable:
		return good(true)
	case n.NodeID.Namespace() != 0:
		return &ua.DataValue{EncodingMask: ua.DataValueStatusCode, Status: ua.StatusBadNodeIDUnknown}
	}
	switch n.NodeID.IntID() {
	case id.Server_ServerStatus_BuildInfo_ProductName:
		return good("Acme PLC OPC UA")
	case id.Server_ServerStatus_BuildInfo_ManufacturerName:
		return good("Acme Automation")
	case id.Server_ServerStatus_BuildInfo_SoftwareVersion:
		return good("4.2.1")
	case id.Server_ServerStatus_State:
		return good(int32(ua.ServerStateRunning))
	case id.Server_NamespaceArray:
		return good([]string{"http://opcfoundation.org/UA/", "urn:acme"})
	}
	return &ua.DataValue{EncodingMask: ua.DataValueStatusCode, Status: ua.StatusBadAttributeIDInvalid}
}

// TestProbeFakeServer probes the fake end to end, through the guard and
// the scheduler, with a weak server certificate (self-signed, expired,
// SHA-1, 1024-bit) that is recorded rather than fatal.
func TestProbeFakeServer(t *testing.T) {
	now := time.Now().UTC().Truncate(time.Second)
	der, _, _ := makeCert(t, certSpec{Bits: 1024, SigAlg: x509.SHA1WithRSA, From: now.Add(-72 * time.Hour), To: now.Add(-24 * time.Hour), Subject: "weak"}, nil, nil)
	f := startFakeServer(t, der)
	l := testLimits()
	l.CredentialGuessing, l.MaxAttemptsPerDevice = true, 2
	p := New(Config{Ports: []uint16{f.port}, Logins: Logins(nil), Logger: testLogger(t)})
	res := runProber(t, p, loopback, l)
	if len(res.report.Errors) != 0 {
		t.Fatalf("device errors: %+v", res.report.Errors)
	}
	assertLedgerWithinPlan(t, res)

	eps := res.of(otaudit.KindEndpoint)
	if len(eps) != 1 {
		t.Fatalf("%d endpoints, want 1", len(eps))
	}
	c := eps[0].Endpoint.Certificate
	if c == nil || !c.SelfSigned || c.KeyBits != 1024 || c.SignatureAlgorithm != "SHA1-RSA" || !c.NotAfter.Before(now) {
		t.Errorf("certificate = %+v", c)
	}
	var anon *otaudit.LoginProbe
	var denied int
	for _, o := range res.of(otaudit.KindLoginProbe) {
		switch lp := o.LoginProbe; lp.Method {
		case "anonymous":
			anon = lp
		case "password":
			if lp.Accepted || !lp.KnownDefault {
				t.Errorf("login %+v", lp)
			}
			if testing.Verbose() {
				t.Logf("login %+v", lp)
			}
			denied++
		}
	}
	if anon == nil || !anon.Accepted || anon.Sampled != 3 || anon.WritableNodes != 1 || anon.ExecutableMethods != 1 {
		t.Errorf("anonymous probe = %+v, want 3 sampled, 1 writable, 1 executable", anon)
	}
	// A 1024-bit key cannot protect a password under the token's
	// Basic256Sha256: no login is attempted rather than one sent weakly.
	if denied != 0 {
		t.Errorf("%d logins against a server whose key cannot protect the password", denied)
	}
	var build bool
	for _, o := range res.of(otaudit.KindIdentity) {
		if id := o.Identity; id.Method == "opcua-buildinfo" && id.Vendor == "Acme Automation" && id.Firmware == "4.2.1" {
			build = true
		}
	}
	if !build {
		t.Errorf("no BuildInfo identity in %+v", res.of(otaudit.KindIdentity))
	}
	// What the server itself received: read-only services only.
	allowed := map[string]bool{"*ua.GetEndpointsRequest": true, "*ua.FindServersRequest": true, "*ua.CreateSessionRequest": true,
		"*ua.ActivateSessionRequest": true, "*ua.ReadRequest": true, "*ua.BrowseRequest": true, "*ua.BrowseNextRequest": true,
		"*ua.CloseSessionRequest": true}
	for _, r := range f.received() {
		if !allowed[r] {
			t.Errorf("server received %s", r)
		}
	}
}

// TestFakeServerLogins: with a certificate that can protect the password,
// the default logins are tried up to the device's attempt budget, each
// refused one recorded as a known default that was not accepted.
func TestFakeServerLogins(t *testing.T) {
	now := time.Now().UTC()
	der, _, _ := makeCert(t, certSpec{Bits: 2048, SigAlg: x509.SHA256WithRSA, From: now.Add(-time.Hour), To: now.Add(time.Hour), Subject: "strong"}, nil, nil)
	f := startFakeServer(t, der)
	l := testLimits()
	l.CredentialGuessing, l.MaxAttemptsPerDevice = true, 2
	p := New(Config{Ports: []uint16{f.port}, Logins: Logins(nil), Logger: testLogger(t)})
	res := runProber(t, p, loopback, l)
	assertLedgerWithinPlan(t, res)
	var denied []string
	for _, o := range res.of(otaudit.KindLoginProbe) {
		if lp := o.LoginProbe; lp.Method == "password" {
			if lp.Accepted || !lp.KnownDefault || !strings.Contains(lp.Detail, "BadUserAccessDenied") {
				t.Errorf("login %+v", lp)
			}
			denied = append(denied, lp.User)
		}
	}
	if len(denied) != 2 {
		t.Errorf("logins tried %v, want 2 (MaxAttemptsPerDevice)", denied)
	}
	l.CredentialGuessing = false
	res = runProber(t, p, loopback, l)
	for _, o := range res.of(otaudit.KindLoginProbe) {
		if o.LoginProbe.Method == "password" {
			t.Errorf("login attempted with guessing off: %+v", o.LoginProbe)
		}
	}
	if k := res.kinds(); k[kindActivateSession] != 1 {
		t.Errorf("guessing off: %d activate-session, want only the anonymous one", k[kindActivateSession])
	}
}
