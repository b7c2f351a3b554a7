#!/usr/bin/env bash
# make bench-active: `otaudit scan --active` versus nmap on the test zone, in
# one run, side by side. Not part of CI. Needs root.
#
#   1. the three devices of the zone (10.99.0.10 pymodbus, .11 snmpd, .12 node-opcua)
#   2. the zone's /24 with only those three alive: the zone's other hosts
#      (.2 the agent itself, .13-.15) are excluded for both tools, so 249
#      addresses are dead and timeouts and concurrency dominate.
#
# nmap: -n -sT -sU -p U:161,T:102,502,4840,44818 --script modbus-discover,snmp-info,snmp-brute
# otaudit: once per limits profile (BENCH_PROFILES, default "default fast"):
#   default  the embedded defaults: 2 requests/s per device, 20/s per zone, 4 devices at
#            once, 3 s timeout, 1 retry, credential guessing 3 attempts 2 s apart
#   fast     the integration suite's limits: 10/s per device, 30/s per zone, 8 at once,
#            2 s timeout, 1 retry, guessing 3 attempts 200 ms apart
# BENCH_SUBNET_PROFILES (default "fast") chooses the profiles run on the /24.
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
SUBNET_EXCLUDE=(10.99.0.2 10.99.0.13 10.99.0.14 10.99.0.15)
NMAP_ARGS=(-n -sT -sU -p U:161,T:102,502,4840,44818 --script modbus-discover,snmp-info,snmp-brute)
PROFILES=${BENCH_PROFILES:-default fast}
SUBNET_PROFILES=${BENCH_SUBNET_PROFILES:-fast}

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

elapsed() { awk -v a="$1" -v b="$2" 'BEGIN{printf "%.1f", b-a}'; }
declare -A WALL

# run_otaudit LABEL PROFILE TARGET-ARGS...
run_otaudit() {
  local label=$1 profile=$2; shift 2
  local cfg=() t0 t1 rc=0
  [ "$profile" = fast ] && cfg=(--config "$OUT/fast.yaml")
  t0=$EPOCHREALTIME
  $A env XDG_STATE_HOME="$OUT/state" "$BIN" --db "$OUT/$label.db" "${cfg[@]}" scan --active "$@" >"$OUT/$label.scan.txt" 2>"$OUT/$label.log" || rc=$?
  t1=$EPOCHREALTIME
  WALL[$label]=$(elapsed "$t0" "$t1")
  echo "otaudit $label: ${WALL[$label]} s (exit $rc)"
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
  printf '%-22s %8s\n' RUN SECONDS
  for k in nmap-3 $(for p in $PROFILES; do echo "otaudit-3-$p"; done) nmap-24 $(for p in $SUBNET_PROFILES; do echo "otaudit-24-$p"; done); do
    printf '%-22s %8s\n' "$k" "${WALL[$k]:-?}"
  done
  for scope in 3 24; do
    echo
    echo "================ found: $( [ $scope = 3 ] && echo "three hosts" || echo "$SUBNET" ) ================"
    echo "---- nmap"
    summary "$OUT/nmap-$scope.nmap.txt"
    for p in $( [ $scope = 3 ] && echo "$PROFILES" || echo "$SUBNET_PROFILES"); do
      echo "---- otaudit ($p limits): $(head -2 "$OUT/otaudit-$scope-$p.scan.txt" | tail -1 | sed 's/^ *//')"
      cat "$OUT/otaudit-$scope-$p.assets.txt"
      echo "findings:"
      grep -E '^(CRITICAL|HIGH|MEDIUM|LOW|INFO) ' "$OUT/otaudit-$scope-$p.findings.txt" | awk '{printf "  %-9s %-32s %s\n", $1, $2, $3}' || true
    done
  done
} | tee "$OUT/summary.txt"
