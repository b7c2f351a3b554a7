# otaudit — build, test, demo. `make demo` and `make test` are the front door.
GO      ?= go
BIN     := bin/otaudit
VERSION := $(shell git describe --always --dirty 2>/dev/null || echo dev)
LDFLAGS := -X main.version=$(VERSION)
FUZZTIME ?= 10s
# GOTAGS=afpacket builds the live capture's shared-memory ring backend in
# (cgo: needs a C compiler).
GOTAGS  ?=

.PHONY: all build test test-afpacket demo bench lint fuzz clean integration bench-active bench-pcap bench-live

all: lint test build

build:
	$(GO) build -tags "$(GOTAGS)" -ldflags "$(LDFLAGS)" -o $(BIN) ./cmd/otaudit

test:
	$(GO) test -count=1 ./...

# The live capture tests with the afpacket backend built in, next to the
# socket one (as root they capture in network namespaces of their own).
test-afpacket:
	CGO_ENABLED=1 $(GO) test -count=1 -tags afpacket -run 'Live' ./collectors/pcap/
	CGO_ENABLED=1 $(GO) build -tags afpacket -o /dev/null ./cmd/otaudit

# Scans a capture the project generates itself, with the embedded demo zone.
demo: build
	./$(BIN) demo --dir demo-out

# Store ingest and query benchmarks, plus passive analysis throughput.
bench:
	$(GO) test -run '^$$' -bench . -benchmem ./store/ ./collectors/pcap/

# Passive analysis at scale: a synthetic capture of >= 2M packets and >= 1000
# hosts (and the same traffic twice as long), otaudit vs a raw pcapgo read vs
# tshark conversation statistics, peak RSS of each; BENCH_PCAP_FLAGS e.g.
# "-cpuprofile cpu.out", "-packets 4000000" or "-classes" (the base capture
# split by traffic class, each measured alone).
bench-pcap:
	$(GO) run ./.ci/benchpcap $(BENCH_PCAP_FLAGS)

# Live capture, socket and afpacket backends side by side on a veth pair in
# namespaces of its own (root; cgo for afpacket): frames seen, kernel drops.
bench-live:
	CGO_ENABLED=1 $(GO) test -tags afpacket -run '^$$' -bench LiveBackends -benchtime 1000000x ./collectors/pcap/

# Active collectors against real devices in a network-namespace test zone
# (root; installs snmpd, pymodbus, libmodbus, node-opcua): .ci/integration.sh.
integration:
	bash .ci/integration.sh

# otaudit scan --active versus nmap on the test zone, side by side (root).
bench-active:
	bash .ci/testbed/bench-active.sh

lint:
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...

# Short runs of every native fuzz target (FUZZTIME each); see README for longer runs.
# Go 1.26's fuzz coordinator can end a timed run with a bare "context
# deadline exceeded" and no failing input (a race between the -fuzztime
# deadline and its workers' context, reported as go.dev/issue/75804);
# on this loaded 2-core kind of machine one target in most runs sees it.
# Such a run is repeated, up to twice; a real finding (a "Failing input"
# line) always fails at once.
fuzz:
	@set -e; for pkg in $$($(GO) list ./...); do \
	  for t in $$($(GO) test -list '^Fuzz' $$pkg | grep '^Fuzz' || true); do \
	    echo "fuzz $$pkg $$t"; \
	    for try in 1 2 3; do \
	      if $(GO) test -run '^$$' -fuzz "^$$t$$" -fuzztime $(FUZZTIME) $$pkg > .fuzz.log 2>&1; then tail -1 .fuzz.log; break; fi; \
	      cat .fuzz.log; \
	      if [ $$try != 3 ] && grep -q 'context deadline exceeded' .fuzz.log && ! grep -q 'Failing input' .fuzz.log; then \
	        echo "fuzz: coordinator deadline without a failing input; running $$t once more"; continue; fi; \
	      rm -f .fuzz.log; exit 1; \
	    done; \
	  done; \
	done; rm -f .fuzz.log

clean:
	rm -rf bin demo-out
