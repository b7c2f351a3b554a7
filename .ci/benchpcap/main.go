// Command benchpcap is `make bench-pcap`: it writes a synthetic capture of
// at least 2M packets and 1000 hosts (collectors/pcap/benchgen), and the
// same traffic twice as long, to a temporary directory, then measures side
// by side, each in its own child process (peak RSS: the child's VmHWM):
// otaudit's full passive analysis, a raw pcapgo read of the file (the
// floor), the connection floor (floor.go: what tracking connections alone
// costs), a bare gopacket decode, and tshark's conversation statistics (when
// tshark is installed).
// It prints a table with the ratios. A benchmark, not a test: nothing here
// passes or fails on a duration.
package main

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"strconv"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"
	"github.com/google/gopacket/pcapgo"

	"github.com/otaudit/otaudit"
	"github.com/otaudit/otaudit/collectors/pcap"
	"github.com/otaudit/otaudit/collectors/pcap/benchgen"
)

type childResult struct {
	Packets int64   `json:"packets"`
	Seconds float64 `json:"seconds"`
	Obs     int     `json:"observations,omitempty"`
	Errors  int64   `json:"decode_errors,omitempty"`
	// Digest is a SHA-256 of the observations as JSON, so two builds can
	// be checked to report the same thing on the capture.
	Digest string `json:"digest,omitempty"`
	// PeakRSSKB is the child's own high-water mark (VmHWM). The rusage of
	// a child started with vfork-style clone also counts the parent's
	// high-water mark at exec, which made the raw read look like 40-120 MB.
	PeakRSSKB int64 `json:"peak_rss_kb,omitempty"`
}

func main() {
	child := flag.String("child", "", "internal: run one measurement (analyze|raw|floor|bare) on -file")
	file := flag.String("file", "", "internal: capture for -child")
	cpuprof := flag.String("cpuprofile", "", "write a CPU profile of otaudit's analysis of the base capture here")
	memprof := flag.String("memprofile", "", "write a heap profile (allocations; in-use at its end) of otaudit's analysis of the base capture here")
	digest := flag.Bool("digest", false, "print a SHA-256 of otaudit's observations as JSON (to check that two builds report the same; the encoding adds to the peak RSS)")
	procs := flag.Int("procs", 1, "GOMAXPROCS of the measured children, 1 for the issue's one-core figure (0: leave as is)")
	packets := flag.Int64("packets", 2_100_000, "packets in the base capture")
	dir := flag.String("dir", "", "directory for the captures (default: a temporary one, removed afterwards)")
	noTshark := flag.Bool("no-tshark", false, "skip tshark even when installed")
	classes := flag.Bool("classes", false, "also split the base capture by traffic class (web, Modbus, SNMP, DNS, remote access, other) and measure otaudit and the raw read on each alone")
	plant := flag.String("plant", "../shared/pcaps", "folder of the public captures: its plant captures (*plant*.pcap), repeated to -packets, are measured too, as the issue's reference capture; skipped with a message when absent (\"\" to skip)")
	flag.Parse()
	if *child != "" {
		if err := runChild(*child, *file, *cpuprof, *memprof, *digest); err != nil {
			fmt.Fprintln(os.Stderr, "benchpcap:", err)
			os.Exit(1)
		}
		return
	}
	if err := run(*packets, *dir, *plant, *cpuprof, *memprof, *procs, *digest, *noTshark, *classes); err != nil {
		fmt.Fprintln(os.Stderr, "benchpcap:", err)
		os.Exit(1)
	}
}

func runChild(mode, file, cpuprof, memprof string, digest bool) error {
	start := time.Now()
	var res childResult
	switch mode {
	case "analyze":
		if cpuprof != "" {
			f, err := os.Create(cpuprof)
			if err != nil {
				return err
			}
			defer f.Close()
			if err := pprof.StartCPUProfile(f); err != nil {
				return err
			}
			defer pprof.StopCPUProfile()
		}
		judge := otaudit.CredentialJudge{Key: []byte("benchmark-key-0123456789abcdef"), Defaults: map[string][]string{"snmp": {"public", "private"}}}
		r, err := pcap.AnalyzeFile(context.Background(), file, pcap.Options{Judge: judge})
		if err != nil {
			return err
		}
		res = childResult{Packets: r.Stats.Packets, Seconds: time.Since(start).Seconds(), Obs: len(r.Observations), Errors: r.Stats.DecodeErrors}
		if memprof != "" {
			if err := writeHeapProfile(memprof); err != nil {
				return err
			}
		}
		if digest {
			sum := sha256.New()
			if err := json.NewEncoder(sum).Encode(r.Observations); err != nil {
				return err
			}
			res.Digest = hex.EncodeToString(sum.Sum(nil))[:16]
		}
	case "raw":
		r, f, err := openCapture(file)
		if err != nil {
			return err
		}
		defer f.Close()
		for {
			_, _, err := r.ZeroCopyReadPacketData()
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				return err
			}
			res.Packets++
		}
		res.Seconds = time.Since(start).Seconds()
	case "floor":
		n, err := connectionFloor(file)
		if err != nil {
			return err
		}
		res.Packets, res.Seconds = n, time.Since(start).Seconds()
	case "bare":
		n, err := bareDecode(file)
		if err != nil {
			return err
		}
		res.Packets, res.Seconds = n, time.Since(start).Seconds()
	default:
		return fmt.Errorf("unknown -child %q", mode)
	}
	res.PeakRSSKB = peakRSSKB()
	return json.NewEncoder(os.Stdout).Encode(res)
}

// openCapture opens a classic pcap file for the raw read and the
// baselines, all through the same 64 KB buffer.
func openCapture(file string) (*pcapgo.Reader, *os.File, error) {
	f, err := os.Open(file)
	if err != nil {
		return nil, nil, err
	}
	r, err := pcapgo.NewReader(bufio.NewReaderSize(f, 64<<10))
	if err != nil {
		f.Close()
		return nil, nil, err
	}
	return r, f, nil
}

// bareDecode is the "bare" baseline: a pcapgo read feeding a
// preallocated gopacket DecodingLayerParser over Ethernet, 802.1Q, IPv4,
// IPv6, TCP and UDP, and a map of flows (5-tuple → packets and bytes).
// It dissects no application protocol and keeps no host, connection or
// stream state: what is left of otaudit's time above it is the analysis.
func bareDecode(file string) (int64, error) {
	r, f, err := openCapture(file)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	var (
		eth   layers.Ethernet
		dot1q layers.Dot1Q
		ip4   layers.IPv4
		ip6   layers.IPv6
		tcp   layers.TCP
		udp   layers.UDP
		pay   gopacket.Payload
	)
	parser := gopacket.NewDecodingLayerParser(layers.LayerTypeEthernet, &eth, &dot1q, &ip4, &ip6, &tcp, &udp, &pay)
	parser.IgnoreUnsupported = true
	// The layers by index instead of the default map, as otaudit's own
	// parser does: a baseline tuned as far as it goes.
	var sparse gopacket.DecodingLayerContainer = gopacket.DecodingLayerSparse(nil)
	for _, l := range []gopacket.DecodingLayer{&eth, &dot1q, &ip4, &ip6, &tcp, &udp, &pay} {
		sparse = sparse.Put(l)
	}
	parser.SetDecodingLayerContainer(sparse)
	decoded := make([]gopacket.LayerType, 0, 8)
	type flowKey struct {
		net, tr gopacket.Flow
	}
	type counts struct{ packets, bytes int64 }
	flows := map[flowKey]*counts{}
	var n int64
	for {
		data, ci, err := r.ZeroCopyReadPacketData()
		if errors.Is(err, io.EOF) {
			return n, nil
		}
		if err != nil {
			return n, err
		}
		n++
		_ = parser.DecodeLayers(data, &decoded) // malformed frames count as far as they decode
		var k flowKey
		for _, t := range decoded {
			switch t {
			case layers.LayerTypeIPv4:
				k.net = ip4.NetworkFlow()
			case layers.LayerTypeIPv6:
				k.net = ip6.NetworkFlow()
			case layers.LayerTypeTCP:
				k.tr = tcp.TransportFlow()
			case layers.LayerTypeUDP:
				k.tr = udp.TransportFlow()
			}
		}
		c := flows[k]
		if c == nil {
			c = &counts{}
			flows[k] = c
		}
		c.packets++
		c.bytes += int64(ci.Length)
	}
}

// peakRSSKB reads this process's peak resident set size from
// /proc/self/status (0 where there is none).
func peakRSSKB() int64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			n, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
			return n
		}
	}
	return 0
}

// writeHeapProfile writes the heap profile at the end of the analysis,
// while its result is still live.
func writeHeapProfile(path string) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	runtime.GC()
	if err := pprof.Lookup("heap").WriteTo(f, 0); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

type measurement struct {
	tool    string
	packets int64
	seconds float64
	rssMB   float64
	note    string
}

// measure runs cmd and reads its peak RSS from the kernel's accounting.
func measure(tool string, cmd *exec.Cmd, parse bool) (measurement, error) {
	m := measurement{tool: tool}
	start := time.Now()
	out, err := cmd.Output()
	wall := time.Since(start).Seconds()
	if err != nil {
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			return m, fmt.Errorf("%s: %v: %s", tool, err, ee.Stderr)
		}
		return m, fmt.Errorf("%s: %w", tool, err)
	}
	if ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage); ok {
		m.rssMB = float64(ru.Maxrss) / 1024 // KiB on Linux
	}
	m.seconds = wall
	if parse {
		var r childResult
		if err := json.Unmarshal(out, &r); err != nil {
			return m, fmt.Errorf("%s: %w: %s", tool, err, out)
		}
		// In-process time excludes process start-up, as for the raw read.
		m.packets, m.seconds = r.Packets, r.Seconds
		if r.PeakRSSKB > 0 {
			m.rssMB = float64(r.PeakRSSKB) / 1024
		}
		if r.Obs > 0 {
			m.note = fmt.Sprintf("%d observations, %d decode errors", r.Obs, r.Errors)
			if r.Digest != "" {
				m.note += ", digest " + r.Digest
			}
		}
	}
	return m, nil
}

// child is a measured child process, with GOMAXPROCS set when procs > 0.
func child(procs int, name string, args ...string) *exec.Cmd {
	cmd := exec.Command(name, args...)
	if procs > 0 {
		cmd.Env = append(os.Environ(), "GOMAXPROCS="+strconv.Itoa(procs))
	}
	return cmd
}

// capture is one file the bench measures: write makes it and says what
// it holds.
type capture struct {
	name  string
	write func(path string) (packets int64, desc string, err error)
}

func synthetic(packets int64, repeat int) func(string) (int64, string, error) {
	return func(path string) (int64, string, error) {
		f, err := os.Create(path)
		if err != nil {
			return 0, "", err
		}
		sum, err := benchgen.Write(f, benchgen.Config{Packets: packets, Seed: 62443, Repeat: repeat})
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		return sum.Packets, fmt.Sprintf("%d hosts, %d malformed", sum.Hosts, sum.Malformed), err
	}
}

func run(packets int64, dir, plant, cpuprof, memprof string, procs int, digest, noTshark, classes bool) error {
	if dir == "" {
		d, err := os.MkdirTemp("", "otaudit-bench-pcap-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(d)
		dir = d
	}
	self, err := os.Executable()
	if err != nil {
		return err
	}
	tshark, _ := exec.LookPath("tshark")
	if noTshark {
		tshark = ""
	}
	captures := []capture{
		{"base", synthetic(packets, 1)},
		{"doubled", synthetic(packets, 2)},
	}
	plantFiles, plantNote := plantCaptures(plant)
	if len(plantFiles) > 0 {
		captures = append(captures,
			capture{"plant", repeatCaptures(plantFiles, packets)},
			capture{"plant-doubled", repeatCaptures(plantFiles, 2*packets)})
	}
	var all [][]measurement
	var sizes []int64
	for i, c := range captures {
		path := filepath.Join(dir, c.name+".pcap")
		start := time.Now()
		n, desc, err := c.write(path)
		if err != nil {
			return fmt.Errorf("%s capture: %w", c.name, err)
		}
		st, _ := os.Stat(path)
		fmt.Printf("%s capture: %d packets, %s, %.0f MB, written in %.1fs (%s)\n",
			c.name, n, desc, float64(st.Size())/1e6, time.Since(start).Seconds(), path)
		sizes = append(sizes, n)

		var ms []measurement
		args := []string{"-child", "analyze", "-file", path}
		if cpuprof != "" && i == 0 {
			args = append(args, "-cpuprofile", cpuprof)
		}
		if memprof != "" && i == 0 {
			args = append(args, "-memprofile", memprof)
		}
		if digest {
			args = append(args, "-digest")
		}
		m, err := measure("otaudit analysis", child(procs, self, args...), true)
		if err != nil {
			return err
		}
		ms = append(ms, m)
		if m, err = measure("pcapgo raw read", child(procs, self, "-child", "raw", "-file", path), true); err != nil {
			return err
		}
		ms = append(ms, m)
		if m, err = measure("connection floor (floor.go)", child(procs, self, "-child", "floor", "-file", path), true); err != nil {
			return err
		}
		ms = append(ms, m)
		if m, err = measure("bare gopacket decode + flow map", child(procs, self, "-child", "bare", "-file", path), true); err != nil {
			return err
		}
		ms = append(ms, m)
		if tshark != "" {
			m, err := measure("tshark conv,tcp+udp", exec.Command(tshark, "-r", path, "-q", "-z", "conv,tcp", "-z", "conv,udp"), false)
			if err != nil {
				return err
			}
			m.packets = n
			m.note = "wall time incl. start-up"
			ms = append(ms, m)
		}
		all = append(all, ms)
	}
	for i, ms := range all {
		fmt.Printf("\n%s capture (%d packets):\n", captures[i].name, sizes[i])
		tw := tabwriter.NewWriter(os.Stdout, 2, 4, 2, ' ', tabwriter.AlignRight)
		fmt.Fprintln(tw, "tool\tseconds\tMpackets/s\tpeak RSS MB\ttime vs raw\ttshark time / this\t\t")
		raw, ts := ms[1], measurement{}
		if len(ms) > 4 {
			ts = ms[4]
		}
		for _, m := range ms {
			pps := float64(m.packets) / m.seconds / 1e6
			vsTshark := "-"
			if ts.seconds > 0 {
				vsTshark = fmt.Sprintf("%.1f×", ts.seconds/m.seconds)
			}
			fmt.Fprintf(tw, "%s\t%.2f\t%.2f\t%.0f\t%.2f×\t%s\t  %s\t\n", m.tool, m.seconds, pps, m.rssMB, m.seconds/raw.seconds, vsTshark, m.note)
		}
		tw.Flush()
	}
	fmt.Println()
	for i := 0; i+1 < len(all); i += 2 {
		a, b := all[i][0], all[i+1][0]
		fmt.Printf("otaudit on %s → %s: peak RSS %.0f MB → %.0f MB (%.2f×); time %.2fs → %.2fs (%.2f×)\n",
			captures[i].name, captures[i+1].name, a.rssMB, b.rssMB, b.rssMB/a.rssMB, a.seconds, b.seconds, b.seconds/a.seconds)
	}
	if plantNote != "" {
		fmt.Println(plantNote)
	}
	switch {
	case noTshark:
		fmt.Println("tshark skipped (-no-tshark): the peer column is empty")
	case tshark == "":
		fmt.Println("tshark not installed: the peer column is empty")
	}
	if procs > 0 {
		fmt.Printf("otaudit, the raw read, the connection floor and the bare decode ran with GOMAXPROCS=%d\n", procs)
	}
	if cpuprof != "" {
		fmt.Printf("CPU profile of the base analysis: %s (go tool pprof -top %s %s)\n", cpuprof, self, cpuprof)
	}
	if classes {
		return measureClasses(filepath.Join(dir, captures[0].name+".pcap"), dir, self, procs)
	}
	return nil
}

// plantCaptures lists the plant captures (*plant*.pcap) of the public
// capture folder, in name order; when there are none, the note says why.
func plantCaptures(dir string) ([]string, string) {
	if dir == "" {
		return nil, "plant-repeat capture skipped (-plant \"\")"
	}
	files, err := filepath.Glob(filepath.Join(dir, "*plant*.pcap"))
	if err != nil || len(files) == 0 {
		return nil, fmt.Sprintf("plant-repeat capture skipped: no *plant*.pcap in %s (the public captures are not on this machine)", dir)
	}
	return files, "plant capture: " + strings.Join(files, " + ") + ", repeated in turn, each copy's times shifted to follow the last"
}

// repeatCaptures writes files one after the other, again and again,
// until at least packets packets are written: the reference
// capture ("built by repeating the real plant captures"). Each copy's
// timestamps are shifted to start 1 ms after the previous copy ended, so
// time only moves forward; the hosts and conversations are those of the
// files, again.
func repeatCaptures(files []string, packets int64) func(string) (int64, string, error) {
	return func(path string) (int64, string, error) {
		out, err := os.Create(path)
		if err != nil {
			return 0, "", err
		}
		bw := bufio.NewWriterSize(out, 1<<20)
		w := pcapgo.NewWriter(bw)
		if err := w.WriteFileHeader(262144, layers.LinkTypeEthernet); err != nil {
			out.Close()
			return 0, "", err
		}
		var n int64
		var end time.Time // the last timestamp written
		for n < packets {
			for _, file := range files {
				shifted, err := appendShifted(w, file, end)
				if err != nil {
					out.Close()
					return n, "", err
				}
				n += shifted.packets
				end = shifted.end
			}
		}
		if err := bw.Flush(); err != nil {
			out.Close()
			return n, "", err
		}
		return n, fmt.Sprintf("%d plant captures repeated", len(files)), out.Close()
	}
}

type shiftResult struct {
	packets int64
	end     time.Time
}

// appendShifted copies file's packets to w, shifted to start 1 ms after
// after (as they are when after is zero).
func appendShifted(w *pcapgo.Writer, file string, after time.Time) (shiftResult, error) {
	var res shiftResult
	f, err := os.Open(file)
	if err != nil {
		return res, err
	}
	defer f.Close()
	r, err := pcapgo.NewReader(bufio.NewReaderSize(f, 64<<10))
	if err != nil {
		return res, fmt.Errorf("%s: %w", file, err)
	}
	if r.LinkType() != layers.LinkTypeEthernet {
		return res, fmt.Errorf("%s: link type %v, want Ethernet", file, r.LinkType())
	}
	var shift time.Duration
	for {
		data, ci, err := r.ReadPacketData()
		if errors.Is(err, io.EOF) {
			return res, nil
		}
		if err != nil {
			return res, fmt.Errorf("%s: packet %d: %w", file, res.packets+1, err)
		}
		if res.packets == 0 && !after.IsZero() {
			shift = after.Add(time.Millisecond).Sub(ci.Timestamp)
		}
		ci.Timestamp = ci.Timestamp.Add(shift)
		if err := w.WritePacket(ci, data); err != nil {
			return res, err
		}
		res.packets++
		res.end = ci.Timestamp
	}
}
