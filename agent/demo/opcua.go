package demo

import (
	"fmt"
	"time"

	"github.com/gopcua/opcua/id"
	"github.com/gopcua/opcua/ua"
	"github.com/gopcua/opcua/uacp"
	"github.com/gopcua/opcua/uasc"
)

const (
	opcuaPort        = 4840
	opcuaEndpointURL = "opc.tcp://10.10.1.40:4840/cell1"
	// securityPolicyNone is the policy the server offers and the historian
	// uses: no signing, no encryption.
	securityPolicyNone = "http://opcfoundation.org/UA/SecurityPolicy#None"
	opcuaChannelID     = 0x0001_3a6f
	opcuaTokenID       = 1
)

// opcuaNodes are the values the historian collects every ten seconds.
var opcuaNodes = []string{"Line1.Filler.Speed", "Line1.Filler.GoodCount", "Line1.Filler.State"}

// opcuaChannel numbers the chunks of one secure channel in each direction.
type opcuaChannel struct {
	seq       [2]uint32
	requestID uint32
	handle    uint32
	authToken *ua.NodeID
}

// encodeConnection encodes a HEL or ACK with its connection header.
func encodeConnection(msgType string, body interface{ Encode() ([]byte, error) }) ([]byte, error) {
	b, err := body.Encode()
	if err != nil {
		return nil, err
	}
	h, err := (&uacp.Header{MessageType: msgType, ChunkType: uacp.ChunkTypeFinal, MessageSize: uint32(8 + len(b))}).Encode()
	if err != nil {
		return nil, err
	}
	return append(h, b...), nil
}

// encode encodes one service message as a single chunk from side s: OPN
// with the asymmetric security header (policy None, no certificates), MSG
// with the symmetric one.
func (ch *opcuaChannel) encode(s side, msgType string, typeID uint16, service interface{}) ([]byte, error) {
	ch.seq[s]++
	hdr := &uasc.MessageHeader{
		Header:         uasc.NewHeader(msgType, uacp.ChunkTypeFinal, opcuaChannelID),
		SequenceHeader: uasc.NewSequenceHeader(ch.seq[s], ch.requestID),
	}
	if msgType == "OPN" {
		if s == client {
			hdr.Header.SecureChannelID = 0 // not yet assigned
		}
		hdr.AsymmetricSecurityHeader = uasc.NewAsymmetricSecurityHeader(securityPolicyNone, nil, nil)
	} else {
		hdr.SymmetricSecurityHeader = uasc.NewSymmetricSecurityHeader(opcuaTokenID)
	}
	m := &uasc.Message{MessageHeader: hdr, TypeID: ua.NewFourByteExpandedNodeID(0, typeID), Service: service}
	return m.Encode()
}

func (ch *opcuaChannel) requestHeader(at time.Duration) *ua.RequestHeader {
	ch.handle++
	token := ch.authToken
	if token == nil {
		token = ua.NewTwoByteNodeID(0)
	}
	return &ua.RequestHeader{AuthenticationToken: token, Timestamp: captureStart.Add(at), RequestHandle: ch.handle,
		TimeoutHint: 10000, AdditionalHeader: ua.NewExtensionObject(nil)}
}

func (ch *opcuaChannel) responseHeader(at time.Duration) *ua.ResponseHeader {
	return &ua.ResponseHeader{Timestamp: captureStart.Add(at), RequestHandle: ch.handle,
		ServiceDiagnostics: &ua.DiagnosticInfo{}, StringTable: []string{}, AdditionalHeader: ua.NewExtensionObject(nil)}
}

// opcuaSession is the DMZ historian's OPC UA client: HEL/ACK, an OPN with
// SecurityPolicy None, CreateSession, ActivateSession (anonymous), then a
// Read of three values every ten seconds. The channel stays open.
func opcuaSession(tl *timeline, connect time.Duration) {
	if err := opcuaConversation(tl, connect); err != nil {
		tl.fail(fmt.Errorf("opc ua %s: %w", opcuaEndpointURL, err))
	}
}

func opcuaConversation(tl *timeline, connect time.Duration) error {
	r := newRNG("opcua")
	c := tl.newTCPConn(historian, opcuaServer, opcuaPort, r)
	t := c.open(connect)
	ch := &opcuaChannel{}
	think := func() time.Duration { return r.between(400*time.Microsecond, 2*time.Millisecond) }

	hel, err := encodeConnection(uacp.MessageTypeHello, &uacp.Hello{ReceiveBufSize: 65535, SendBufSize: 65535,
		MaxMessageSize: 4 << 20, MaxChunkCount: 0, EndpointURL: opcuaEndpointURL})
	if err != nil {
		return fmt.Errorf("encode HEL: %w", err)
	}
	ack, err := encodeConnection(uacp.MessageTypeAcknowledge, &uacp.Acknowledge{ReceiveBufSize: 65535,
		SendBufSize: 65535, MaxMessageSize: 4 << 20, MaxChunkCount: 0})
	if err != nil {
		return fmt.Errorf("encode ACK: %w", err)
	}
	t = c.exchange(t+r.between(200*time.Microsecond, 500*time.Microsecond), hel, ack, think())

	// The request and its response share a request ID.
	roundTrip := func(at time.Duration, msgType string, reqID uint16, req interface{}, respID uint16,
		resp func(at time.Duration) interface{}) (time.Duration, error) {
		ch.requestID++
		reqBytes, err := ch.encode(client, msgType, reqID, req)
		if err != nil {
			return 0, fmt.Errorf("encode %s request %d: %w", msgType, ch.requestID, err)
		}
		answer := at + c.rtt + think()
		respBytes, err := ch.encode(server, msgType, respID, resp(answer))
		if err != nil {
			return 0, fmt.Errorf("encode %s response %d: %w", msgType, ch.requestID, err)
		}
		t := c.send(at, client, reqBytes)
		return c.send(max(answer, t+c.rtt/2), server, respBytes), nil
	}

	at := t + r.between(100*time.Microsecond, 400*time.Microsecond)
	t, err = roundTrip(at, "OPN", id.OpenSecureChannelRequest_Encoding_DefaultBinary,
		&ua.OpenSecureChannelRequest{RequestHeader: ch.requestHeader(at), RequestType: ua.SecurityTokenRequestTypeIssue,
			SecurityMode: ua.MessageSecurityModeNone, ClientNonce: nil, RequestedLifetime: 3_600_000},
		id.OpenSecureChannelResponse_Encoding_DefaultBinary,
		func(at time.Duration) interface{} {
			return &ua.OpenSecureChannelResponse{ResponseHeader: ch.responseHeader(at),
				SecurityToken: &ua.ChannelSecurityToken{ChannelID: opcuaChannelID, TokenID: opcuaTokenID,
					CreatedAt: captureStart.Add(at), RevisedLifetime: 3_600_000}}
		})
	if err != nil {
		return err
	}

	server := &ua.ApplicationDescription{ApplicationURI: "urn:opcua-01:FactoryTalkOptix:Cell1",
		ProductURI: "urn:rockwellautomation.com:FactoryTalkOptix", ApplicationName: &ua.LocalizedText{
			EncodingMask: ua.LocalizedTextText, Text: "Cell 1 OPC UA Server"},
		ApplicationType: ua.ApplicationTypeServer, DiscoveryURLs: []string{opcuaEndpointURL}}
	at = t + r.between(300*time.Microsecond, 900*time.Microsecond)
	authToken := ua.NewNumericNodeID(1, uint32(r.next()>>33))
	t, err = roundTrip(at, "MSG", id.CreateSessionRequest_Encoding_DefaultBinary,
		&ua.CreateSessionRequest{RequestHeader: ch.requestHeader(at),
			ClientDescription: &ua.ApplicationDescription{ApplicationURI: "urn:historian-01:Historian:OPCUACollector",
				ProductURI: "urn:historian:OPCUACollector", ApplicationName: &ua.LocalizedText{
					EncodingMask: ua.LocalizedTextText, Text: "Historian OPC UA collector"},
				ApplicationType: ua.ApplicationTypeClient},
			EndpointURL: opcuaEndpointURL, SessionName: "historian-01 cell1", ClientNonce: r.bytes(32),
			RequestedSessionTimeout: 1_200_000, MaxResponseMessageSize: 4 << 20},
		id.CreateSessionResponse_Encoding_DefaultBinary,
		func(at time.Duration) interface{} {
			return &ua.CreateSessionResponse{ResponseHeader: ch.responseHeader(at),
				SessionID: ua.NewNumericNodeID(1, uint32(r.next()>>33)), AuthenticationToken: authToken,
				RevisedSessionTimeout: 1_200_000, ServerNonce: r.bytes(32),
				ServerEndpoints: []*ua.EndpointDescription{{EndpointURL: opcuaEndpointURL, Server: server,
					SecurityMode: ua.MessageSecurityModeNone, SecurityPolicyURI: securityPolicyNone,
					UserIdentityTokens:  []*ua.UserTokenPolicy{{PolicyID: "Anonymous", TokenType: ua.UserTokenTypeAnonymous}},
					TransportProfileURI: "http://opcfoundation.org/UA-Profile/Transport/uatcp-uasc-uabinary"}},
				ServerSignature: &ua.SignatureData{}, MaxRequestMessageSize: 4 << 20}
		})
	if err != nil {
		return err
	}
	ch.authToken = authToken

	at = t + r.between(300*time.Microsecond, 900*time.Microsecond)
	t, err = roundTrip(at, "MSG", id.ActivateSessionRequest_Encoding_DefaultBinary,
		&ua.ActivateSessionRequest{RequestHeader: ch.requestHeader(at), ClientSignature: &ua.SignatureData{},
			LocaleIDs:          []string{"en-US"},
			UserIdentityToken:  ua.NewExtensionObject(&ua.AnonymousIdentityToken{PolicyID: "Anonymous"}),
			UserTokenSignature: &ua.SignatureData{}},
		id.ActivateSessionResponse_Encoding_DefaultBinary,
		func(at time.Duration) interface{} {
			return &ua.ActivateSessionResponse{ResponseHeader: ch.responseHeader(at), ServerNonce: r.bytes(32)}
		})
	if err != nil {
		return err
	}
	c.ack(t+historian.stack.delayedAck, client)

	nodes := make([]*ua.ReadValueID, len(opcuaNodes))
	for i, n := range opcuaNodes {
		nodes[i] = &ua.ReadValueID{NodeID: ua.NewStringNodeID(2, n), AttributeID: ua.AttributeIDValue,
			DataEncoding: &ua.QualifiedName{}}
	}
	count := uint32(1_482_337)
	for k := 0; ; k++ {
		at := connect + 2*time.Second + time.Duration(k)*10*time.Second + r.between(0, 2*time.Millisecond)
		if at > 91*time.Second {
			break
		}
		count += uint32(20 + r.intn(2))
		var variants []*ua.Variant
		for _, v := range []interface{}{float32(119.5 + float32(r.intn(20))/10), count, int32(3)} {
			variant, err := ua.NewVariant(v)
			if err != nil {
				return fmt.Errorf("read %d: value %v: %w", k+1, v, err)
			}
			variants = append(variants, variant)
		}
		t, err = roundTrip(at, "MSG", id.ReadRequest_Encoding_DefaultBinary,
			&ua.ReadRequest{RequestHeader: ch.requestHeader(at), TimestampsToReturn: ua.TimestampsToReturnBoth,
				NodesToRead: nodes},
			id.ReadResponse_Encoding_DefaultBinary,
			func(answer time.Duration) interface{} {
				results := make([]*ua.DataValue, len(variants))
				for i, v := range variants {
					results[i] = &ua.DataValue{
						EncodingMask:    ua.DataValueValue | ua.DataValueSourceTimestamp | ua.DataValueServerTimestamp,
						Value:           v,
						SourceTimestamp: captureStart.Add(at - 40*time.Millisecond),
						ServerTimestamp: captureStart.Add(answer)}
				}
				return &ua.ReadResponse{ResponseHeader: ch.responseHeader(answer), Results: results}
			})
		if err != nil {
			return fmt.Errorf("read %d: %w", k+1, err)
		}
		c.ack(t+historian.stack.delayedAck, client)
	}
	return nil
}
