package checks

import (
	"fmt"
	"testing"

	"github.com/otaudit/otaudit"
)

// bigPlant is a synthetic zone of hosts×(hosts/10) flows plus operations,
// half of the hosts unregistered (so the per-asset evidence paths run).
func bigPlant(hosts int) Input {
	z := cellZone()
	z.CIDRs = nil
	z.Register = register("10.1.0.1")
	var obs []otaudit.Observation
	for i := range hosts {
		ip := fmt.Sprintf("10.1.%d.%d", i/250, i%250+1)
		obs = append(obs, host(ip, fmt.Sprintf("02:00:00:00:%02x:%02x", i/256, i%256), ""))
		for j := range hosts / 10 {
			peer := fmt.Sprintf("10.1.%d.%d", j/250, j%250+1)
			obs = append(obs, flow(ip, peer, "modbus", 502, true))
		}
		obs = append(obs, op("modbus", ip, "10.1.0.1", otaudit.OpWrite, 16, "Write Multiple Registers", 3))
	}
	z.CIDRs = nil
	in := fixture{zone: z, obs: obs}.input()
	for i := range in.Assets {
		in.Assets[i].Registered = i%2 == 0
	}
	return in
}

func BenchmarkEvaluate(b *testing.B) {
	for _, n := range []int{100, 1000} {
		in := bigPlant(n)
		b.Run(fmt.Sprintf("hosts=%d/observations=%d", n, len(in.Observations)), func(b *testing.B) {
			for b.Loop() {
				rep := Evaluate(in)
				if len(rep.Results) == 0 {
					b.Fatal("no results")
				}
			}
		})
	}
}
