package discovery

import (
	"encoding/binary"
	"fmt"
	"net/netip"
)

// PROFINET DCP frame IDs (the first two bytes after the Ethernet type
// 0x8892).
const (
	DCPHello            = 0xfefc
	DCPGetSet           = 0xfefd
	DCPIdentifyRequest  = 0xfefe
	DCPIdentifyResponse = 0xfeff
)

// DCP services and service types.
const (
	DCPServiceGet      = 3
	DCPServiceSet      = 4
	DCPServiceIdentify = 5
	DCPServiceHello    = 6

	DCPRequest         = 0
	DCPResponseSuccess = 1
)

// DCP is one DCP message (PROFINET Discovery and Configuration Protocol).
type DCP struct {
	FrameID     uint16
	Service     int
	ServiceType int
	XID         uint32
	// NameOfStation, Vendor (the "type of station" text, e.g. a product
	// family or order number), VendorID, DeviceID and Role come from the
	// device-properties blocks; HasIDs says VendorID/DeviceID were present.
	NameOfStation string
	Vendor        string
	VendorID      uint16
	DeviceID      uint16
	HasIDs        bool
	Role          uint8
	// IP, Mask and Gateway come from the IP-parameter block.
	IP, Mask, Gateway netip.Addr
	// Options lists the option/suboption pairs of the blocks, in order
	// (0x0102 = IP parameter, 0x0202 = name of station, …).
	Options []uint16
}

// IsRequest reports whether the message is a request (as opposed to a
// response), judged by frame ID and service type.
func (d DCP) IsRequest() bool {
	switch d.FrameID {
	case DCPIdentifyRequest, DCPHello:
		return true
	case DCPIdentifyResponse:
		return false
	}
	return d.ServiceType == DCPRequest
}

const (
	dcpOptIP         = 1
	dcpOptDevice     = 2
	dcpSubIPParam    = 2
	dcpSubVendor     = 1
	dcpSubName       = 2
	dcpSubDeviceID   = 3
	dcpSubDeviceRole = 4
	maxDCPOptions    = 32
)

// ParseDCP parses a DCP PDU: b starts at the frame ID. Only the frame IDs
// 0xfefc-0xfeff are DCP.
func ParseDCP(b []byte) (DCP, error) {
	var d DCP
	if len(b) < 12 {
		return d, fmt.Errorf("dcp: header cut at %d bytes: %w", len(b), ErrMalformed)
	}
	d.FrameID = binary.BigEndian.Uint16(b[0:2])
	if d.FrameID < DCPHello || d.FrameID > DCPIdentifyResponse {
		return d, fmt.Errorf("dcp: frame ID %#04x is not DCP: %w", d.FrameID, ErrMalformed)
	}
	d.Service, d.ServiceType = int(b[2]), int(b[3])
	d.XID = binary.BigEndian.Uint32(b[4:8])
	n := int(binary.BigEndian.Uint16(b[10:12]))
	blocks := b[12:]
	if n > len(blocks) {
		return d, fmt.Errorf("dcp: data length %d exceeds the %d bytes left: %w", n, len(blocks), ErrMalformed)
	}
	blocks = blocks[:n]
	// Identify requests carry filter blocks whose values are what is
	// searched for, not what the sender is; Set requests carry a 2-byte
	// block qualifier and responses a 2-byte block info before the value.
	filter := d.FrameID == DCPIdentifyRequest || d.Service == DCPServiceGet && d.ServiceType == DCPRequest
	for len(blocks) >= 4 {
		opt, sub := blocks[0], blocks[1]
		bl := int(binary.BigEndian.Uint16(blocks[2:4]))
		if 4+bl > len(blocks) {
			return d, fmt.Errorf("dcp: block %d/%d length %d exceeds the %d bytes left: %w", opt, sub, bl, len(blocks)-4, ErrMalformed)
		}
		v := blocks[4 : 4+bl]
		blocks = blocks[min(len(blocks), 4+bl+bl%2):] // blocks are padded to even length
		if len(d.Options) < maxDCPOptions {
			d.Options = append(d.Options, uint16(opt)<<8|uint16(sub))
		}
		if filter {
			continue
		}
		if len(v) < 2 {
			continue
		}
		v = v[2:] // block info or block qualifier
		switch {
		case opt == dcpOptIP && sub == dcpSubIPParam && len(v) >= 12:
			d.IP, _ = netip.AddrFromSlice(v[0:4])
			d.Mask, _ = netip.AddrFromSlice(v[4:8])
			d.Gateway, _ = netip.AddrFromSlice(v[8:12])
		case opt == dcpOptDevice && sub == dcpSubVendor:
			d.Vendor = text(v)
		case opt == dcpOptDevice && sub == dcpSubName:
			d.NameOfStation = text(v)
		case opt == dcpOptDevice && sub == dcpSubDeviceID && len(v) >= 4:
			d.VendorID = binary.BigEndian.Uint16(v[0:2])
			d.DeviceID = binary.BigEndian.Uint16(v[2:4])
			d.HasIDs = true
		case opt == dcpOptDevice && sub == dcpSubDeviceRole && len(v) >= 1:
			d.Role = v[0]
		}
	}
	return d, nil
}
