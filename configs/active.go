package configs

import (
	"go.yaml.in/yaml/v3"
)

// Bounds on the probing settings. They keep a typo from turning a gentle
// audit into a flood that trips a PLC's network stack.
const (
	maxPPS           = 10000
	maxConcurrency   = 1024
	maxRetries       = 10
	maxGuessAttempts = 20
)

func (d *configDecoder) active(n *yaml.Node, field string, a *ActiveConfig) {
	var perDeviceNode, perZoneNode *yaml.Node
	pps := func(n *yaml.Node, f string, dst *float64) {
		v, ok := d.number(n, f)
		if !ok {
			return
		}
		if v <= 0 || v > maxPPS {
			d.problemAt(d.resolve(n, f), f, "must be greater than 0 and at most %d packets per second, got %g", maxPPS, v)
			return
		}
		*dst = v
	}
	d.mapping(n, field, map[string]fieldHandler{
		"enabled":       func(n *yaml.Node, f string) { a.Enabled = d.boolean(n, f) },
		"targets":       func(n *yaml.Node, f string) { a.Targets = d.prefixes(n, f) },
		"exclude":       func(n *yaml.Node, f string) { a.Exclude = d.prefixes(n, f) },
		"passive_first": func(n *yaml.Node, f string) { a.PassiveFirst = d.boolean(n, f) },
		"arp_sweep":     func(n *yaml.Node, f string) { a.ARPSweep = d.boolean(n, f) },
		"per_device_pps": func(n *yaml.Node, f string) {
			perDeviceNode = d.resolve(n, f)
			pps(n, f, &a.PerDevicePPS)
		},
		"per_zone_pps": func(n *yaml.Node, f string) {
			perZoneNode = d.resolve(n, f)
			pps(n, f, &a.PerZonePPS)
		},
		"concurrency": func(n *yaml.Node, f string) {
			if v, ok := d.intIn(n, f, 1, maxConcurrency); ok {
				a.Concurrency = v
			}
		},
		"timeout": func(n *yaml.Node, f string) {
			if v, ok := d.positiveDuration(n, f); ok {
				a.Timeout = v
			}
		},
		"retries": func(n *yaml.Node, f string) {
			if v, ok := d.intIn(n, f, 0, maxRetries); ok {
				a.Retries = v
			}
		},
		"credential_guessing": func(n *yaml.Node, f string) {
			g := &a.CredentialGuessing
			d.mapping(n, f, map[string]fieldHandler{
				"enabled": func(n *yaml.Node, f string) { g.Enabled = d.boolean(n, f) },
				"max_attempts_per_device": func(n *yaml.Node, f string) {
					if v, ok := d.intIn(n, f, 0, maxGuessAttempts); ok {
						g.MaxAttemptsPerDevice = v
					}
				},
				"delay": func(n *yaml.Node, f string) {
					if v, ok := d.nonNegativeDuration(n, f); ok {
						g.Delay = v
					}
				},
			})
		},
		"workarounds": func(n *yaml.Node, f string) {
			w := &a.Workarounds
			d.mapping(n, f, map[string]fieldHandler{
				"pause_after_connect": func(n *yaml.Node, f string) {
					if v, ok := d.nonNegativeDuration(n, f); ok {
						w.PauseAfterConnect = v
					}
				},
				"pause_between_requests": func(n *yaml.Node, f string) {
					if v, ok := d.nonNegativeDuration(n, f); ok {
						w.PauseBetweenRequests = v
					}
				},
			})
		},
	})
	// One device may not be allowed more than the whole zone: the zone
	// limit is the one that protects shared links.
	if a.PerDevicePPS > a.PerZonePPS {
		at, f := perDeviceNode, joinField(field, "per_device_pps")
		if at == nil {
			at, f = perZoneNode, joinField(field, "per_zone_pps")
		}
		d.problemAt(at, f, "per_device_pps (%g) is higher than per_zone_pps (%g)", a.PerDevicePPS, a.PerZonePPS)
	}
}
