#!/usr/bin/env bash
# make bench-active: `otaudit scan --active` versus nmap on the test zone, in
# one run, side by side. Not part of CI. Needs root.
#
#   1. the three devices of the zone (10.99.0.10 pymodbus, .11 snmpd, .12 node-opcua)
#   2. the zone's /24 with only those three alive: the zone's other hosts
#      (.2 the agent itself, .13-.16) are excluded for both tools, so 246
#      addresses are dead and timeouts and concurrency dominate.
#
# nmap: -n -sT -sU -p U:161,T:102,502,4840,44818 --script modbus-discover,snmp-info,snmp-brute
# otaudit: once per limits profile (BENCH_PROFILES, default "default fast brisk"):
#   default  the embedded defaults: 2 requests/s per device, 20/s per zone, 4 devices at
#            once, 3 s timeout, 1 retry, credential guessing 3 attempts 2 s apart
#   fast     the integration suite's limits: 10/s per device, 30/s per zone, 8 at once,
#            2 s timeout, 1 retry, guessing 3 attempts 200 ms apart
#   brisk    50/s per device (still one connection at a time), 300/s per zone, 8 at once,
#            2 s timeout, 1 retry, guessing 3 attempts 200 ms apart: about what an HMI
#            polling a PLC sends
# BENCH_SUBNET_PROFILES (default "fast brisk") chooses the profiles run on the /24.
# Every otaudit run's ledger is checked against its caps: the table shows the most
# requests any device and the zone got in one second.
# Output and stores: .ci/testbed/run/bench/.
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT=$PWD
TB=$ROOT/.ci/testbed
OUT=$TB/run/bench
BIN=$TB/run/bin/otaudit
export PATH="/usr/local/go/bin:$PATH"
A="ip netns exec otz-audit"
HOSTS=(10.99.0.10 10.99.0.11 10.99.0.12)
SUBNET=10.99.0.0/24
SUBNET_EXCLUDE=(10.99.0.2 10.99.0.13 10.99.0.14 10.99.0.15 10.99.0.16)
NMAP_ARGS=(-n -sT -sU -p U:161,T:102,502,4840,44818 --script modbus-discover,snmp-info,snmp-brute)
PROFILES=${BENCH_PROFILES:-default fast brisk}
SUBNET_PROFILES=${BENCH_SUBNET_PROFILES:-fast brisk}

[ "$(id -u)" = 0 ] || { echo "bench-active: needs root" >&2; exit 1; }
if ! command -v nmap >/dev/null; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq && apt-get install -y -qq --no-install-recommends nmap >/dev/null
fi
mkdir -p "$OUT" "$(dirname "$BIN")"
rm -rf "${OUT:?}"/*
go build -o "$BIN" ./cmd/otaudit

if ip netns list | grep -qw otz-sw; then
  echo "bench-active: using the zone that is already up (it stays up)"
else
  trap '"$TB/zone.sh" down' EXIT
  "$TB/zone.sh" up
fi

cat >"$OUT/fast.yaml" <<'EOF'
version: 1
zone: {name: otz, cidrs: [10.99.0.0/24]}
active:
  enabled: true
  targets: [10.99.0.0/24]
  per_device_pps: 10
  per_zone_pps: 30
  concurrency: 8
  timeout: 2s
  retries: 1
  credential_guessing: {enabled: true, max_attempts_per_device: 3, delay: 200ms}
EOF

sed -e 's/per_device_pps: 10/per_device_pps: 50/' -e 's/per_zone_pps: 30/per_zone_pps: 300/' "$OUT/fast.yaml" >"$OUT/brisk.yaml"

# ledger_stats FILE.json: requests, the most any device and the zone got in
# one second (from the scheduler's ledger), unreachable count.
ledger_stats() {
  python3 - "$1" <<'PY'
import json, sys, datetime, collections
d = json.load(open(sys.argv[1]))
led = d["active"]["ledger"] or []
def ts(s):
    s = s.rstrip("Z")
    if "." in s:
        a, b = s.split(".")
        s = a + "." + b[:6]
    return datetime.datetime.fromisoformat(s).timestamp()
def most(times):
    times.sort(); best = j = 0
    for i in range(len(times)):
        while times[i] - times[j] >= 1.0: j += 1
        best = max(best, i - j + 1)
    return best
per = collections.defaultdict(list)
for e in led: per[e["target"]].append(ts(e["time"]))
dev = max((most(v) for v in per.values()), default=0)
zone = most([ts(e["time"]) for e in led])
print(f'{len(led)} {dev} {zone} {len(d["active"]["report"].get("unreachable") or [])}')
PY
}

elapsed() { awk -v a="$1" -v b="$2" 'BEGIN{printf "%.1f", b-a}'; }
declare -A WALL CAPS

# run_otaudit LABEL PROFILE TARGET-ARGS...
run_otaudit() {
  local label=$1 profile=$2; shift 2
  local cfg=() t0 t1 rc=0
  [ "$profile" != default ] && cfg=(--config "$OUT/$profile.yaml")
  t0=$EPOCHREALTIME
  $A env XDG_STATE_HOME="$OUT/state" "$BIN" --db "$OUT/$label.db" "${cfg[@]}" --json scan --active "$@" >"$OUT/$label.json" 2>"$OUT/$label.log" || rc=$?
  t1=$EPOCHREALTIME
  WALL[$label]=$(elapsed "$t0" "$t1")
  read -r n dev zone unreach < <(ledger_stats "$OUT/$label.json")
  CAPS[$label]="$n requests, at most $dev/s to one device and $zone/s in the zone, $unreach unreachable"
  echo "otaudit $label: ${WALL[$label]} s (exit $rc): ${CAPS[$label]}"
  "$BIN" --db "$OUT/$label.db" assets >"$OUT/$label.assets.txt" 2>&1 || true
  "$BIN" --db "$OUT/$label.db" findings >"$OUT/$label.findings.txt" 2>&1 || true
}

# run_nmap LABEL TARGET-ARGS...
run_nmap() {
  local label=$1; shift
  local t0 t1 rc=0
  t0=$EPOCHREALTIME
  $A nmap "${NMAP_ARGS[@]}" -oN "$OUT/$label.nmap.txt" "$@" >/dev/null 2>"$OUT/$label.log" || rc=$?
  t1=$EPOCHREALTIME
  WALL[$label]=$(elapsed "$t0" "$t1")
  echo "nmap $label: ${WALL[$label]} s (exit $rc)"
}

echo "== three hosts: ${HOSTS[*]}"
targets=(); for h in "${HOSTS[@]}"; do targets+=(--target "$h"); done
run_nmap nmap-3 "${HOSTS[@]}"
for p in $PROFILES; do run_otaudit "otaudit-3-$p" "$p" "${targets[@]}"; done

echo "== $SUBNET, three live hosts (excluded: ${SUBNET_EXCLUDE[*]})"
excl=(); for h in "${SUBNET_EXCLUDE[@]}"; do excl+=(--exclude "$h"); done
run_nmap nmap-24 --exclude "$(IFS=,; echo "${SUBNET_EXCLUDE[*]}")" "$SUBNET"
for p in $SUBNET_PROFILES; do run_otaudit "otaudit-24-$p" "$p" --target "$SUBNET" "${excl[@]}"; done

# ---- side by side
summary() { # what nmap found: open ports and script lines
  grep -E '^(Nmap scan report|[0-9]+/(tcp|udp) +open|\|)' "$1" | grep -v 'open|filtered' || true
}
{
  echo
  echo "================ bench-active: wall times ================"
  printf '%-22s %8s  %s\n' RUN SECONDS "LEDGER (caps: default 2/s device 20/s zone; fast 10/30; brisk 50/300)"
  for k in nmap-3 $(for p in $PROFILES; do echo "otaudit-3-$p"; done) nmap-24 $(for p in $SUBNET_PROFILES; do echo "otaudit-24-$p"; done); do
    printf '%-22s %8s  %s\n' "$k" "${WALL[$k]:-?}" "${CAPS[$k]:-}"
  done
  for scope in 3 24; do
    echo
    echo "================ found: $( [ $scope = 3 ] && echo "three hosts" || echo "$SUBNET" ) ================"
    echo "---- nmap"
    summary "$OUT/nmap-$scope.nmap.txt"
    for p in $( [ $scope = 3 ] && echo "$PROFILES" || echo "$SUBNET_PROFILES"); do
      echo "---- otaudit ($p limits): ${CAPS[otaudit-$scope-$p]}"
      cat "$OUT/otaudit-$scope-$p.assets.txt"
      echo "findings:"
      grep -E '^(CRITICAL|HIGH|MEDIUM|LOW|INFO) ' "$OUT/otaudit-$scope-$p.findings.txt" | awk '{printf "  %-9s %-32s %s\n", $1, $2, $3}' || true
    done
  done
} | tee "$OUT/summary.txt"
