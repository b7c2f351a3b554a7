package demo

import (
	"bytes"
	"net/netip"
	"slices"
	"testing"

	"go.yaml.in/yaml/v3"
)

// zoneFile mirrors the zone configuration format; decoding with known
// fields only, a misspelt key in zone.yaml fails the test.
type zoneFile struct {
	Version int `yaml:"version"`
	Zone    struct {
		Name                    string         `yaml:"name"`
		Description             string         `yaml:"description"`
		CIDRs                   []string       `yaml:"cidrs"`
		PurdueLevel             int            `yaml:"purdue_level"`
		SLTarget                map[string]int `yaml:"sl_target"`
		EngineeringWorkstations []string       `yaml:"engineering_workstations"`
		RemoteAccessGateways    []string       `yaml:"remote_access_gateways"`
		AllowedProtocols        []string       `yaml:"allowed_protocols"`
		MaxRemoteSessionMinutes int            `yaml:"max_remote_session_minutes"`
		Conduits                []struct {
			Name      string         `yaml:"name"`
			PeerZone  string         `yaml:"peer_zone"`
			PeerCIDRs []string       `yaml:"peer_cidrs"`
			Protocols []string       `yaml:"protocols"`
			SLTarget  map[string]int `yaml:"sl_target"`
		} `yaml:"conduits"`
		Assets []struct {
			IP       string `yaml:"ip"`
			MAC      string `yaml:"mac"`
			Name     string `yaml:"name"`
			Vendor   string `yaml:"vendor"`
			Model    string `yaml:"model"`
			Firmware string `yaml:"firmware"`
			Role     string `yaml:"role"`
		} `yaml:"assets"`
	} `yaml:"zone"`
}

func TestZoneYAMLMatchesScenario(t *testing.T) {
	dec := yaml.NewDecoder(bytes.NewReader(ZoneYAML))
	dec.KnownFields(true)
	var zf zoneFile
	if err := dec.Decode(&zf); err != nil {
		t.Fatalf("zone.yaml: %v", err)
	}
	z := zf.Zone
	if zf.Version != 1 || z.Name != "cell-1" || z.PurdueLevel != 1 || z.SLTarget["default"] != 2 ||
		!slices.Equal(z.CIDRs, []string{cellPrefix.String()}) || z.MaxRemoteSessionMinutes != 480 {
		t.Errorf("zone header %+v", zf)
	}
	if !slices.Equal(z.EngineeringWorkstations, []string{ews.IP.String(), scada.IP.String()}) {
		t.Errorf("engineering_workstations %v, want the EWS and the SCADA master", z.EngineeringWorkstations)
	}
	if len(z.Conduits) != 1 || !slices.Equal(z.Conduits[0].Protocols, []string{"opcua"}) {
		t.Fatalf("conduits %+v, want one allowing only opcua", z.Conduits)
	}
	peers := netip.MustParsePrefix(z.Conduits[0].PeerCIDRs[0])
	if !peers.Contains(historian.IP) || !peers.Contains(dmzPoller.IP) || peers.Contains(enterprisePC.IP) {
		t.Errorf("conduit peers %v must hold the DMZ hosts and not the enterprise PC", peers)
	}
	if slices.Contains(z.AllowedProtocols, "modbus") == false {
		t.Errorf("allowed_protocols %v lacks modbus", z.AllowedProtocols)
	}

	registered := map[string]bool{}
	for _, a := range z.Assets {
		registered[a.IP] = true
		var actor *Actor
		for i := range Scenario {
			if Scenario[i].IP.String() == a.IP {
				actor = &Scenario[i]
			}
		}
		if actor == nil {
			t.Errorf("register entry %s (%s) is not a scenario actor", a.IP, a.Name)
			continue
		}
		if a.Name != actor.Name || a.MAC != actor.MAC || a.Vendor != actor.Vendor || a.Model != actor.Model ||
			a.Firmware != actor.Firmware || a.Role != actor.Role {
			t.Errorf("register entry %+v disagrees with the scenario %+v", a, *actor)
		}
	}
	for _, a := range Scenario {
		if registered[a.IP.String()] != a.Registered {
			t.Errorf("%s (%s): in register %v, Scenario says %v", a.Name, a.IP, registered[a.IP.String()], a.Registered)
		}
	}
	if registered[laptop.IP.String()] || registered[enterprisePC.IP.String()] {
		t.Error("the contractor laptop and the enterprise PC must stay out of the register")
	}
}
