package pcap

import (
	"context"
	"encoding/binary"
	"os"
	"runtime"
	"sync/atomic"
	"testing"
	"time"
)

// BenchmarkLiveBackends puts each capture backend of the build side by
// side on one link: b.N frames sent from the peer end of a veth pair in
// namespaces of the benchmark's own, as fast as one sender can, captured
// and analysed on the silent end. The frames are SNMP GetRequests from 256
// source ports (a decoder's port: the kernel filter keeps them whole). It
// reports the share of the frames the analysis saw, the share the kernel
// dropped, and the sender's rate. Root only; nothing leaves the
// namespaces. `make bench-live` runs it with the afpacket backend built in.
func BenchmarkLiveBackends(b *testing.B) {
	if os.Geteuid() != 0 {
		b.Skip("needs root to create network namespaces (ip netns)")
	}
	for i, backend := range liveBackends(b) {
		b.Run(backend, func(b *testing.B) { benchLive(b, backend, 10+i) })
	}
}

func benchLive(b *testing.B, backend string, n int) {
	nsCap, nsPeer, vCap, vPeer := vethPair(b, n)
	var seen atomic.Int64
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := liveInNetns(ctx, nsCap, vCap, LiveOptions{Options: Options{Judge: testJudge}, Flush: 100 * time.Millisecond, Backend: backend}, func(r *Result) error {
		seen.Add(r.Stats.Packets)
		return nil
	})

	frames := make([][]byte, 256)
	for i := range frames {
		f, err := taggedSNMPFrame([]byte{0x30, 0x26, 0x02, 0x01, 0x01, 0x04, 0x06, 'p', 'u', 'b', 'l', 'i', 'c', 0xa0, 0x19, 0x02, 0x01, 0x01, 0x02, 0x01, 0x00, 0x02, 0x01, 0x00, 0x30, 0x0e, 0x30, 0x0c, 0x06, 0x08, 0x2b, 0x06, 0x01, 0x02, 0x01, 0x01, 0x01, 0x00, 0x05, 0x00})
		if err != nil {
			b.Fatal(err)
		}
		// Untagged (the tag is the test's concern, not this one's), and
		// a source port of its own: Ethernet 14 + IPv4 20, UDP ports next.
		f = append(f[:12:12], f[16:]...)
		binary.BigEndian.PutUint16(f[34:36], uint16(40000+i))
		frames[i] = f
	}
	type sendOut struct {
		elapsed time.Duration
		err     error
	}
	sent := make(chan sendOut, 1)
	go func() {
		runtime.LockOSThread()
		if err := enterNetns(nsPeer); err != nil {
			sent <- sendOut{err: err}
			return
		}
		raw, err := rawSender(vPeer)
		if err != nil {
			sent <- sendOut{err: err}
			return
		}
		defer raw.close()
		// Until the capture reports a window: it is open and analysing.
		for seen.Load() == 0 {
			if err := raw.send(frames[0]); err != nil {
				sent <- sendOut{err: err}
				return
			}
			time.Sleep(10 * time.Millisecond)
		}
		start := time.Now()
		for i := range b.N {
			if err := raw.send(frames[i%len(frames)]); err != nil {
				sent <- sendOut{err: err}
				return
			}
		}
		elapsed := time.Since(start)
		// Keep a frame coming so windows close, until the capture has
		// caught up: for three ticks running, nothing analysed but the
		// ticks themselves.
		last, still := int64(-1), 0
		for still < 3 {
			time.Sleep(50 * time.Millisecond)
			if err := raw.send(frames[0]); err != nil {
				sent <- sendOut{err: err}
				return
			}
			if s := seen.Load(); s-last <= 2 {
				still++
				last = s
			} else {
				last, still = s, 0
			}
		}
		sent <- sendOut{elapsed: elapsed}
	}()
	b.ResetTimer()
	out := <-sent
	b.StopTimer()
	if out.err != nil {
		b.Fatal(out.err)
	}
	cancel()
	res := <-done
	if res.err != nil {
		b.Fatal(res.err)
	}
	if res.stats.Packets == 0 {
		b.Fatal("the capture analysed nothing")
	}
	b.ReportMetric(min(float64(seen.Load())/float64(b.N), 1), "seen/frame")
	b.ReportMetric(float64(res.stats.Dropped)/float64(b.N), "dropped/frame")
	b.ReportMetric(float64(b.N)/out.elapsed.Seconds(), "sent-frames/s")
}
