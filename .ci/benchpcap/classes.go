package main

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"text/tabwriter"

	"github.com/google/gopacket/layers"
	"github.com/google/gopacket/pcapgo"
)

// trafficClasses name the synthetic capture's kinds of traffic by port;
// everything else (ARP, malformed frames) is "other".
var trafficClasses = []struct {
	name  string
	ports []uint16
}{
	{"web (HTTP/HTTPS fetches)", []uint16{80, 443}},
	{"modbus polling", []uint16{502}},
	{"snmp polling", []uint16{161}},
	{"dns", []uint16{53}},
	{"remote access", []uint16{22, 3389, 5900}},
}

const otherClass = "other (ARP, malformed)"

// classOf is the traffic class of an Ethernet frame, by the ports of an
// IPv4 TCP or UDP header.
func classOf(frame []byte) string {
	if len(frame) < 14+20+4 || binary.BigEndian.Uint16(frame[12:14]) != 0x0800 {
		return otherClass
	}
	ihl := int(frame[14]&0x0f) * 4
	if ihl < 20 || len(frame) < 14+ihl+4 {
		return otherClass
	}
	l4 := frame[14+ihl:]
	sport, dport := binary.BigEndian.Uint16(l4[0:2]), binary.BigEndian.Uint16(l4[2:4])
	for _, c := range trafficClasses {
		for _, p := range c.ports {
			if sport == p || dport == p {
				return c.name
			}
		}
	}
	return otherClass
}

// splitByClass writes the frames of src into one capture per traffic
// class in dir and returns their paths by class, in trafficClasses order.
func splitByClass(src, dir string) ([]string, map[string]string, error) {
	in, err := os.Open(src)
	if err != nil {
		return nil, nil, err
	}
	defer in.Close()
	r, err := pcapgo.NewReader(bufio.NewReaderSize(in, 1<<20))
	if err != nil {
		return nil, nil, fmt.Errorf("%s: %w", src, err)
	}
	names := []string{}
	for _, c := range trafficClasses {
		names = append(names, c.name)
	}
	names = append(names, otherClass)
	paths := map[string]string{}
	writers := map[string]*pcapgo.Writer{}
	var files []*os.File
	var bufs []*bufio.Writer
	for i, n := range names {
		p := filepath.Join(dir, fmt.Sprintf("class-%d.pcap", i))
		f, err := os.Create(p)
		if err != nil {
			return nil, nil, err
		}
		files = append(files, f)
		bw := bufio.NewWriterSize(f, 1<<20)
		bufs = append(bufs, bw)
		w := pcapgo.NewWriter(bw)
		if err := w.WriteFileHeader(65535, layers.LinkTypeEthernet); err != nil {
			return nil, nil, err
		}
		paths[n], writers[n] = p, w
	}
	for {
		data, ci, err := r.ZeroCopyReadPacketData()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, nil, fmt.Errorf("%s: %w", src, err)
		}
		if err := writers[classOf(data)].WritePacket(ci, data); err != nil {
			return nil, nil, err
		}
	}
	for i, f := range files {
		if err := bufs[i].Flush(); err != nil {
			return nil, nil, err
		}
		if err := f.Close(); err != nil {
			return nil, nil, err
		}
	}
	return names, paths, nil
}

// measureClasses splits the base capture by traffic class and measures
// otaudit's analysis, the raw read and the connection floor of each alone:
// which traffic the ratio to the raw read comes from, and how much of it any
// connection tracking costs.
func measureClasses(base, dir, self string, procs int) error {
	names, paths, err := splitByClass(base, dir)
	if err != nil {
		return fmt.Errorf("split %s by traffic class: %w", base, err)
	}
	type row struct {
		name                 string
		packets              int64
		analyse, read, floor float64
	}
	var rows []row
	var total int64
	var totalTime float64
	for _, n := range names {
		a, err := measure("otaudit analysis", child(procs, self, "-child", "analyze", "-file", paths[n]), true)
		if err != nil {
			return err
		}
		raw, err := measure("pcapgo raw read", child(procs, self, "-child", "raw", "-file", paths[n]), true)
		if err != nil {
			return err
		}
		floor, err := measure("connection floor", child(procs, self, "-child", "floor", "-file", paths[n]), true)
		if err != nil {
			return err
		}
		rows = append(rows, row{n, a.packets, a.seconds, raw.seconds, floor.seconds})
		total += a.packets
		totalTime += a.seconds
	}
	fmt.Printf("\nbase capture by traffic class, each class analysed alone (fixed costs weigh more on the small ones):\n")
	tw := tabwriter.NewWriter(os.Stdout, 2, 4, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "class\tpackets\tshare\totaudit ns/packet\traw ns/packet\tfloor ns/packet\ttime vs raw\tfloor vs raw\tshare of otaudit time\t")
	for _, r := range rows {
		if r.packets == 0 {
			continue
		}
		per := func(s float64) float64 { return s / float64(r.packets) * 1e9 }
		fmt.Fprintf(tw, "%s\t%d\t%.0f%%\t%.0f\t%.0f\t%.0f\t%.1f×\t%.1f×\t%.0f%%\t\n", r.name, r.packets, 100*float64(r.packets)/float64(total),
			per(r.analyse), per(r.read), per(r.floor), r.analyse/r.read, r.floor/r.read, 100*r.analyse/totalTime)
	}
	return tw.Flush()
}
