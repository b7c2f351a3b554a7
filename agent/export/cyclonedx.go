package export

import (
	"bytes"
	"crypto/sha1"
	"fmt"
	"slices"
	"strconv"

	cdx "github.com/CycloneDX/cyclonedx-go"

	"github.com/otaudit/otaudit"
)

// CycloneDX 1.6 JSON of the zone's devices, written with cyclonedx-go:
// metadata.component is the zone (type platform: the system the devices
// make up); each asset is a component of type device whose name is its
// model (else its name, else its address), with manufacturer = the vendor
// the device reported and properties otaudit:ip, otaudit:mac (one per MAC),
// otaudit:mac_vendor, otaudit:zone, otaudit:role, otaudit:name,
// otaudit:model, otaudit:serial, otaudit:product_code, otaudit:service (one
// per service, protocol/transport/port), otaudit:registered,
// otaudit:first_seen and otaudit:last_seen. A known firmware is a nested
// component of type firmware with the firmware as its version. CycloneDX
// has no field for a serial number or an address, hence the properties.

// CycloneDXSpec is the CycloneDX specification version written.
const CycloneDXSpec = cdx.SpecVersion1_6

// serialNamespace is the UUID namespace of otaudit's BOM serial numbers.
var serialNamespace = [16]byte{0x6f, 0x74, 0x61, 0x75, 0x64, 0x69, 0x74, 0x2d, 0x63, 0x64, 0x78, 0x2d, 0x62, 0x6f, 0x6d, 0x31}

// bomSerial is an RFC 4122 version 5 (name-based) UUID URN: the same
// export gives the same serial, a different zone or time a different one.
func bomSerial(name string) string {
	h := sha1.New()
	h.Write(serialNamespace[:])
	h.Write([]byte(name))
	u := h.Sum(nil)[:16]
	u[6] = u[6]&0x0f | 0x50
	u[8] = u[8]&0x3f | 0x80
	return fmt.Sprintf("urn:uuid:%x-%x-%x-%x-%x", u[0:4], u[4:6], u[6:8], u[8:10], u[10:16])
}

func renderCycloneDX(doc Document) ([]byte, error) {
	assets := sortedAssets(doc.Assets)
	zone := doc.Zone
	if zone == "" {
		zone = singleZone(doc)
	}
	zoneName := zone
	if zoneName == "" {
		zoneName = "all zones"
	}
	version := productVersion(doc.Generator)
	bom := cdx.NewBOM()
	bom.SerialNumber = bomSerial(zoneName + "\x00" + isoTime(doc.Generated) + "\x00" + doc.Generator)
	tools := []cdx.Component{{Type: cdx.ComponentTypeApplication, Name: "otaudit", Version: version}}
	bom.Metadata = &cdx.Metadata{
		Timestamp: isoTime(doc.Generated),
		Tools:     &cdx.ToolsChoice{Components: &tools},
		Component: &cdx.Component{
			BOMRef:      "zone:" + zoneName,
			Type:        cdx.ComponentTypePlatform,
			Name:        zoneName,
			Description: "IEC 62443 zone as seen by otaudit",
		},
	}
	components := make([]cdx.Component, 0, len(assets))
	for i := range assets {
		components = append(components, deviceComponent(&assets[i]))
	}
	bom.Components = &components

	var b bytes.Buffer
	enc := cdx.NewBOMEncoder(&b, cdx.BOMFileFormatJSON).SetPretty(true).SetEscapeHTML(false)
	if err := enc.EncodeVersion(bom, CycloneDXSpec); err != nil {
		return nil, fmt.Errorf("export cyclonedx: %w", err)
	}
	return b.Bytes(), nil
}

// singleZone is the zone every asset and score of doc belongs to, or ""
// when they span several (or none).
func singleZone(doc Document) string {
	var zones []string
	for _, a := range doc.Assets {
		if a.Zone != "" && !slices.Contains(zones, a.Zone) {
			zones = append(zones, a.Zone)
		}
	}
	for _, s := range doc.Scores {
		if s.Zone != "" && !slices.Contains(zones, s.Zone) {
			zones = append(zones, s.Zone)
		}
	}
	if len(zones) == 1 {
		return zones[0]
	}
	return ""
}

func deviceComponent(a *otaudit.Asset) cdx.Component {
	name := a.Model
	if name == "" {
		name = a.Name
	}
	if name == "" && a.IP.IsValid() {
		name = a.IP.String()
	}
	if name == "" {
		name = a.Key
	}
	c := cdx.Component{BOMRef: a.Key, Type: cdx.ComponentTypeDevice, Name: name, Description: a.Role}
	if a.Vendor != "" {
		c.Manufacturer = &cdx.OrganizationalEntity{Name: a.Vendor}
	}
	var props []cdx.Property
	add := func(name, value string) {
		if value != "" {
			props = append(props, cdx.Property{Name: "otaudit:" + name, Value: value})
		}
	}
	if a.IP.IsValid() {
		add("ip", a.IP.String())
	}
	for _, m := range a.MACs {
		add("mac", m)
	}
	add("mac_vendor", a.MACVendor)
	add("zone", a.Zone)
	add("role", a.Role)
	add("name", a.Name)
	add("model", a.Model)
	add("serial", a.Serial)
	add("product_code", a.ProductCode)
	for _, s := range a.Services {
		add("service", service(s))
	}
	add("registered", strconv.FormatBool(a.Registered))
	add("first_seen", isoTime(a.FirstSeen))
	add("last_seen", isoTime(a.LastSeen))
	c.Properties = &props
	if a.Firmware != "" {
		fw := []cdx.Component{{
			BOMRef:       a.Key + "#firmware",
			Type:         cdx.ComponentTypeFirmware,
			Name:         name + " firmware",
			Version:      a.Firmware,
			Manufacturer: c.Manufacturer,
		}}
		c.Components = &fw
	}
	return c
}
