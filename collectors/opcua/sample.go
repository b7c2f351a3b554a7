package opcua

import (
	"context"
	"fmt"
	"net/netip"
	"strings"
	"time"

	"github.com/gopcua/opcua/id"
	"github.com/gopcua/opcua/ua"
	"github.com/otaudit/otaudit"
)

// serverInfo is what the anonymous session read about the server.
type serverInfo struct {
	productName, productURI, manufacturer, softwareVersion, buildNumber string
	buildDate                                                           time.Time
	state                                                               string
	namespaces                                                          []string
	// maxRead and maxBrowse are the server's operation limits (0: none
	// given), which lower the collector's batch sizes.
	maxRead, maxBrowse uint32
}

// serverInfoNodes are read in one request, in this order.
var serverInfoNodes = []uint32{
	id.Server_ServerStatus,
	id.Server_ServerStatus_State,
	id.Server_ServerStatus_BuildInfo_ProductName,
	id.Server_ServerStatus_BuildInfo_ProductURI,
	id.Server_ServerStatus_BuildInfo_ManufacturerName,
	id.Server_ServerStatus_BuildInfo_SoftwareVersion,
	id.Server_ServerStatus_BuildInfo_BuildNumber,
	id.Server_ServerStatus_BuildInfo_BuildDate,
	id.Server_NamespaceArray,
	id.Server_ServerCapabilities_OperationLimits_MaxNodesPerRead,
	id.Server_ServerCapabilities_OperationLimits_MaxNodesPerBrowse,
}

// readServerInfo reads ServerStatus, BuildInfo, NamespaceArray and the
// operation limits in one Read. The BuildInfo members are read one by one
// as well as inside ServerStatus, because some servers fill only one.
func (r *portRun) readServerInfo(ctx context.Context, ch *channel, s *session, detail string) (serverInfo, int64, error) {
	var info serverInfo
	nodes := make([]*ua.ReadValueID, len(serverInfoNodes))
	for i, n := range serverInfoNodes {
		nodes[i] = &ua.ReadValueID{NodeID: ua.NewNumericNodeID(0, n), AttributeID: ua.AttributeIDValue}
	}
	res, err := ch.read(ctx, s, nodes, detail)
	if err != nil {
		return info, 0, err
	}
	value := func(i int) any {
		if dv := res[i]; dv != nil && dv.Status == ua.StatusOK && dv.Value != nil {
			return dv.Value.Value()
		}
		return nil
	}
	text := func(i int) string {
		switch v := value(i).(type) {
		case string:
			return clean(v)
		case *ua.LocalizedText:
			if v != nil {
				return clean(v.Text)
			}
		}
		return ""
	}
	if eo, ok := value(0).(*ua.ExtensionObject); ok && eo != nil {
		if st, ok := eo.Value.(*ua.ServerStatusDataType); ok && st != nil {
			info.state = strings.TrimPrefix(st.State.String(), "ServerState")
			if b := st.BuildInfo; b != nil {
				info.productName, info.productURI = clean(b.ProductName), clean(b.ProductURI)
				info.manufacturer, info.softwareVersion = clean(b.ManufacturerName), clean(b.SoftwareVersion)
				info.buildNumber, info.buildDate = clean(b.BuildNumber), b.BuildDate
			}
		}
	}
	if v, ok := value(1).(int32); ok {
		info.state = strings.TrimPrefix(ua.ServerState(v).String(), "ServerState")
	}
	fill := func(dst *string, i int) {
		if t := text(i); t != "" {
			*dst = t
		}
	}
	fill(&info.productName, 2)
	fill(&info.productURI, 3)
	fill(&info.manufacturer, 4)
	fill(&info.softwareVersion, 5)
	fill(&info.buildNumber, 6)
	if t, ok := value(7).(time.Time); ok && !t.IsZero() {
		info.buildDate = t
	}
	if ns, ok := value(8).([]string); ok {
		for _, n := range ns {
			info.namespaces = append(info.namespaces, clean(n))
		}
	}
	if v, ok := value(9).(uint32); ok {
		info.maxRead = v
	}
	if v, ok := value(10).(uint32); ok {
		info.maxBrowse = v
	}
	return info, 1, nil
}

// identity is the BuildInfo as a device identity, nil when empty.
func (i serverInfo) identity(ip netip.Addr) *otaudit.DeviceIdentity {
	if i.productName == "" && i.manufacturer == "" && i.softwareVersion == "" {
		return nil
	}
	return &otaudit.DeviceIdentity{IP: ip, Method: "opcua-buildinfo", Vendor: i.manufacturer,
		Model: i.productName, ProductCode: i.productURI, Firmware: i.softwareVersion}
}

// notes are the facts with no field of their own in the observation.
func (i serverInfo) notes() []string {
	var out []string
	if i.state != "" {
		out = append(out, "server state "+i.state)
	}
	if i.buildNumber != "" || !i.buildDate.IsZero() {
		b := "build"
		if i.buildNumber != "" {
			b += " " + i.buildNumber
		}
		if !i.buildDate.IsZero() {
			b += " of " + i.buildDate.UTC().Format(time.DateOnly)
		}
		out = append(out, b)
	}
	if len(i.namespaces) > 0 {
		ns := i.namespaces
		more := ""
		if len(ns) > 8 {
			ns, more = ns[:8], fmt.Sprintf(" and %d more", len(i.namespaces)-8)
		}
		out = append(out, fmt.Sprintf("%d namespaces: %s%s", len(i.namespaces), strings.Join(ns, ", "), more))
	}
	return out
}

// accessSample is what the anonymous session could do to the sampled
// nodes, by their access attributes.
type accessSample struct {
	sampled, writable, executable int
	truncated                     bool
}

type sampledNode struct {
	id    *ua.NodeID
	class ua.NodeClass
}

// sampleAccess browses the Objects folder breadth first (objects only are
// descended into, at most MaxBrowseDepth levels, the standard Server
// object skipped: its methods are the stack's, not the plant's) and reads
// UserAccessLevel of the variables and UserExecutable of the methods it
// found, at most MaxSampledNodes of them. It reads attributes only.
func (r *portRun) sampleAccess(ctx context.Context, ch *channel, s *session, info serverInfo, detail string) (accessSample, int64, error) {
	var (
		out      accessSample
		answered int64
		found    []sampledNode
		pending  [][]byte
		browses  int
	)
	maxNodes := r.p.cfg.MaxSampledNodes
	browseBatch := readBatch
	if info.maxBrowse > 0 && int(info.maxBrowse) < browseBatch {
		browseBatch = int(info.maxBrowse)
	}
	readN := readBatch
	if info.maxRead > 0 && int(info.maxRead) < readN {
		readN = int(info.maxRead)
	}
	seen := map[string]bool{}
	frontier := []*ua.NodeID{ua.NewNumericNodeID(0, id.ObjectsFolder)}
	var err error
levels:
	for depth := 0; depth < r.p.cfg.MaxBrowseDepth && len(frontier) > 0; depth++ {
		var next []*ua.NodeID
		for start := 0; start < len(frontier); start += browseBatch {
			if len(found) >= maxNodes || browses >= maxBrowseRequests {
				out.truncated = true
				break levels
			}
			batch := frontier[start:min(start+browseBatch, len(frontier))]
			descs := make([]*ua.BrowseDescription, len(batch))
			for i, n := range batch {
				descs[i] = &ua.BrowseDescription{
					NodeID:          n,
					BrowseDirection: ua.BrowseDirectionForward,
					ReferenceTypeID: ua.NewNumericNodeID(0, id.HierarchicalReferences),
					IncludeSubtypes: true,
					NodeClassMask:   uint32(ua.NodeClassObject | ua.NodeClassVariable | ua.NodeClassMethod),
					ResultMask:      uint32(ua.BrowseResultMaskNodeClass),
				}
			}
			var results []*ua.BrowseResult
			results, err = ch.browse(ctx, s, descs, maxBrowseRefs, detail)
			browses++
			if err != nil {
				break levels
			}
			answered++
			for _, res := range results {
				if res == nil {
					continue
				}
				if len(res.ContinuationPoint) > 0 {
					pending = append(pending, res.ContinuationPoint)
					out.truncated = true
				}
				for _, ref := range res.References {
					if ref == nil || ref.NodeID == nil || ref.NodeID.NodeID == nil || ref.NodeID.ServerIndex != 0 {
						continue
					}
					nid := ref.NodeID.NodeID
					key := nid.String()
					if seen[key] || nid.Namespace() == 0 && nid.IntID() == id.Server {
						continue
					}
					seen[key] = true
					switch ref.NodeClass {
					case ua.NodeClassObject:
						next = append(next, nid)
					case ua.NodeClassVariable, ua.NodeClassMethod:
						if len(found) < maxNodes {
							found = append(found, sampledNode{nid, ref.NodeClass})
						} else {
							out.truncated = true
						}
					}
				}
			}
		}
		frontier = next
		if depth+1 == r.p.cfg.MaxBrowseDepth && len(frontier) > 0 {
			out.truncated = true
		}
	}
	// Continuation points hold server memory until released.
	for nexts := 0; len(pending) > 0 && nexts < maxBrowseRequests; nexts++ {
		batch := pending[:min(browseBatch, len(pending))]
		pending = pending[len(batch):]
		if _, rerr := ch.browseNext(ctx, s, batch, true, detail); rerr != nil {
			if isRefusal(rerr) {
				return out, answered, rerr
			}
			break
		}
		answered++
	}
	if isRefusal(err) {
		return out, answered, err
	}

	for start, reads := 0, 0; start < len(found); start, reads = start+readN, reads+1 {
		if reads >= maxAttributeReads {
			out.truncated = true
			break
		}
		batch := found[start:min(start+readN, len(found))]
		nodes := make([]*ua.ReadValueID, len(batch))
		for i, n := range batch {
			attr := ua.AttributeIDUserAccessLevel
			if n.class == ua.NodeClassMethod {
				attr = ua.AttributeIDUserExecutable
			}
			nodes[i] = &ua.ReadValueID{NodeID: n.id, AttributeID: attr}
		}
		res, rerr := ch.read(ctx, s, nodes, detail)
		if rerr != nil {
			return out, answered, rerr
		}
		answered++
		for i, dv := range res {
			if dv == nil || dv.Status != ua.StatusOK || dv.Value == nil {
				continue
			}
			switch v := dv.Value.Value().(type) {
			case uint8:
				out.sampled++
				if ua.AccessLevelType(v)&ua.AccessLevelTypeCurrentWrite != 0 && batch[i].class == ua.NodeClassVariable {
					out.writable++
				}
			case bool:
				out.sampled++
				if v && batch[i].class == ua.NodeClassMethod {
					out.executable++
				}
			}
		}
	}
	return out, answered, err
}
