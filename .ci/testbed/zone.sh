#!/usr/bin/env bash
# otaudit's OT test zone: real third-party device simulators in private network
# namespaces, for the active-collector integration suite and the nmap benchmark.
#
#   zone.sh up | down | status | verify
#
# Needs root (CAP_SYS_ADMIN + CAP_NET_ADMIN). Nothing leaves the zone: the
# namespaces have no default route, no link to the host's namespace, and IPv6
# is off inside them (no RS/MLD noise in captures). Every process `up` starts is
# recorded by PID in $RUN and stopped by PID on `down`; `down` is idempotent.
#
#   otz-audit 10.99.0.2   the agent / test runner (+ mon0: SPAN copy of the PLC port,
#                         + cap0: an isolated link for tcpreplay)
#   otz-plc   10.99.0.10  pymodbus 3.0 Modbus/TCP :502 (FC1/3/4/6, FC43/14 device id, FC17)
#                         + libmodbus :5020 (no FC43: exception 1)
#                         + OpenSSL s_server :8443, the PLC's "web server" (TLS 1.2 and 1.3; a
#                           self-signed certificate made at `up`; a port the active scan does not probe)
#   otz-snmp  10.99.0.11  net-snmp snmpd udp/161: v1/v2c public (ro) private (rw),
#                         v3 otauth authNoPriv SHA, otpriv authPriv SHA/AES
#   otz-opc   10.99.0.12  node-opcua 2.182.2 opc.tcp://10.99.0.12:4840/UA/PLC1 (None, Basic256Sha256;
#                         anonymous, admin/admin; self-signed certificate)
#   otz-rtu   10.99.0.13  libmodbus :502: rejects FC43 (exception 1), answers FC17 ("LMB3.1.6");
#                         the same server as .10:5020, on the standard port `otaudit scan --active` probes
#   otz-mute  10.99.0.14  accepts TCP on 102/502/4840 and never answers; swallows udp/161
#   otz-opcw  10.99.0.15  the same node-opcua server, weaker: also offers the deprecated Basic128Rsa15
#                         and Basic256 policies (Node 20 needs --security-revert=CVE-2023-46809 for
#                         Basic128Rsa15). On its own address and the standard port 4840, not on
#                         10.99.0.12:4841, because `otaudit scan --active` discovers standard ports only.
#   otz-bms   10.99.0.16  node-bacnet 0.2.4 BACnet/IP device 2601 on udp/47808 (vendor 8): I-Am by
#                         broadcast, ReadProperty of its Device object's name, vendor, model, revisions
#   otz-sw    (switch)    br0 + one veth per host + span0 (mirror of the PLC port)
#   10.99.0.99            nobody: a dead address inside the subnet
#
# Environment: OTZ_RUN (state directory, default .ci/testbed/run), NPM_CONFIG_CACHE
# (npm cache for a cold `npm ci`, default .ci/cache/npm).
set -uo pipefail
D=$(cd "$(dirname "$0")" && pwd)
REPO=$(cd "$D/../.." && pwd)
RUN=${OTZ_RUN:-$D/run}
NODES="otz-audit:10.99.0.2 otz-plc:10.99.0.10 otz-snmp:10.99.0.11 otz-opc:10.99.0.12 otz-rtu:10.99.0.13 otz-mute:10.99.0.14 otz-opcw:10.99.0.15 otz-bms:10.99.0.16"
ALLNS="otz-audit otz-plc otz-snmp otz-opc otz-rtu otz-mute otz-opcw otz-bms otz-sw"
PY=/usr/bin/python3   # not a pyenv/venv shim: pymodbus is the Debian package
A="ip netns exec otz-audit"
T0=$EPOCHREALTIME

log() { printf '[%6.2fs] %s\n' "$(awk -v a="$T0" -v b="$EPOCHREALTIME" 'BEGIN{print b-a}')" "$*"; }
# wait_for <seconds> <cmd...>: poll a readiness condition (not a fixed sleep)
wait_for() {
  local n=$(( $1 * 10 )); shift
  for _ in $(seq 1 "$n"); do "$@" >/dev/null 2>&1 && return 0; sleep 0.1; done
  return 1
}
# alive: a zombie (exited, not yet reaped) counts as dead; kill -0 would say alive
alive() { local s; s=$(ps -o stat= -p "$1" 2>/dev/null); [ -n "$s" ] && [ "${s:0:1}" != Z ]; }
listening() { ip netns exec "$1" ss -Hltn "sport = :$2" | grep -q LISTEN; }
zone_exists() { ip netns list | grep -qw "$1"; }

net_up() {
  ip netns add otz-sw
  ip -n otz-sw link set lo up
  ip netns exec otz-sw sysctl -qw net.ipv6.conf.all.disable_ipv6=1 net.ipv6.conf.default.disable_ipv6=1
  ip -n otz-sw link add br0 type bridge
  ip -n otz-sw link set br0 up
  local i=0 spec ns ip
  for spec in $NODES; do
    ns=${spec%%:*} ip=${spec##*:}; i=$((i+1))
    ip netns add "$ns"
    ip netns exec "$ns" sysctl -qw net.ipv6.conf.all.disable_ipv6=1 net.ipv6.conf.default.disable_ipv6=1
    ip -n "$ns" link set lo up
    # both ends are created inside namespaces: the host namespace never sees them
    ip -n otz-sw link add "sw$i" type veth peer name eth0 netns "$ns"
    ip -n otz-sw link set "sw$i" master br0 up
    ip -n "$ns" addr add "$ip/24" dev eth0
    ip -n "$ns" link set eth0 up
  done
  # SPAN port: a copy of everything in and out of the PLC port (sw2) -> span0 -> mon0.
  # Kernels without cls_matchall/u32: cls_bpf with the classic BPF program "ret -1".
  ip -n otz-sw link add span0 type veth peer name mon0 netns otz-audit
  ip -n otz-sw link set span0 up
  ip -n otz-audit link set mon0 up promisc on
  ip netns exec otz-sw tc qdisc add dev sw2 clsact
  local dir
  for dir in ingress egress; do
    ip netns exec otz-sw tc filter add dev sw2 "$dir" bpf bytecode '1,6 0 0 4294967295,' \
      action mirred egress mirror dev span0
  done
  # replay link for tcpreplay: rp0 (otz-sw) -> cap0 (otz-audit), not on the bridge
  ip -n otz-sw link add rp0 type veth peer name cap0 netns otz-audit
  ip -n otz-sw link set rp0 up
  ip -n otz-audit link set cap0 up promisc on
}

# start_bg <name> <netns> <cmd...>: run a server in the foreground of a background job.
# `ip netns exec` execs the command, so $! is the server's own PID.
start_bg() {
  local name=$1 ns=$2; shift 2
  ip netns exec "$ns" "$@" >"$RUN/$name.log" 2>&1 &
  echo $! >"$RUN/$name.pid"
}

need() { command -v "$1" >/dev/null 2>&1 || { echo "zone.sh: $1 not found (run .ci/integration.sh, which installs the zone's packages)"; return 1; }; }

up() {
  T0=$EPOCHREALTIME
  local t
  for t in ip tc ss node /usr/sbin/snmpd snmpget gcc pkg-config openssl "$PY"; do need "$t" || return 1; done
  if zone_exists otz-sw; then echo "zone.sh: zone already up (run: $0 down)"; return 1; fi
  mkdir -p "$RUN/snmpvar"
  ( set -e; net_up ); local rc=$?   # not "|| ...": that would switch set -e off inside
  if [ $rc -ne 0 ]; then echo "zone.sh: namespace setup failed"; down; return 1; fi
  log "namespaces, bridge and span port ready"

  local pkg
  for pkg in opcua/node-opcua bacnet/node-bacnet; do
    if [ ! -d "$D/${pkg%%/*}/node_modules/${pkg#*/}" ]; then
      (cd "$D/${pkg%%/*}" && npm ci --no-audit --no-fund --cache "${NPM_CONFIG_CACHE:-$REPO/.ci/cache/npm}" >"$RUN/npm.log" 2>&1) \
        || { echo "zone.sh: npm ci ($pkg) failed"; cat "$RUN/npm.log"; down; return 1; }
      log "npm ci ${pkg#*/} done"
    fi
  done
  if [ ! -x "$RUN/lmb_server" ] || [ "$D/modbus/lmb_server.c" -nt "$RUN/lmb_server" ]; then
    # shellcheck disable=SC2046
    gcc -O2 -o "$RUN/lmb_server" "$D/modbus/lmb_server.c" $(pkg-config --cflags --libs libmodbus) \
      || { echo "zone.sh: building lmb_server failed (libmodbus-dev missing?)"; down; return 1; }
  fi

  # OPC UA first: the slowest to start (2-3.5 s; more when it creates its certificate)
  OPC_PKI=$D/opcua/pki start_bg opcua otz-opc node "$D/opcua/server.js" 10.99.0.12 4840
  # Basic128Rsa15 needs RSA PKCS#1 v1.5 decryption, which Node 20 disables unless reverted
  OPC_POLICIES=None,Basic128Rsa15,Basic256,Basic256Sha256 OPC_PKI=$D/opcua/pki-weak \
    start_bg opcua-weak otz-opcw node --security-revert=CVE-2023-46809 "$D/opcua/server.js" 10.99.0.15 4840
  # address from agentAddress in the file (giving it on the command line too = double bind)
  SNMP_PERSISTENT_DIR=$RUN/snmpvar start_bg snmpd otz-snmp \
    /usr/sbin/snmpd -f -C -I -smux -c "$D/snmp/snmpd.conf" -Lf "$RUN/snmpd.daemon.log" -m ""
  start_bg pymodbus otz-plc "$PY" "$D/modbus/pymodbus_server.py" 10.99.0.10 502
  start_bg libmodbus otz-plc "$RUN/lmb_server" 10.99.0.10 5020
  openssl req -x509 -newkey rsa:2048 -nodes -keyout "$RUN/tls-key.pem" -out "$RUN/tls-cert.pem" -days 30 \
    -subj "/CN=plc-web.otz/O=otaudit test zone" >"$RUN/tls-cert.log" 2>&1 \
    || { echo "zone.sh: openssl could not make the TLS certificate"; cat "$RUN/tls-cert.log"; down; return 1; }
  start_bg tls otz-plc openssl s_server -accept 10.99.0.10:8443 -cert "$RUN/tls-cert.pem" -key "$RUN/tls-key.pem" -www -quiet
  start_bg rtu otz-rtu "$RUN/lmb_server" 10.99.0.13 502
  start_bg mute otz-mute "$PY" "$D/mute/listener.py" 10.99.0.14 102,502,4840 161
  start_bg bacnet otz-bms node "$D/bacnet/server.js" 10.99.0.16 10.99.0.255 2601

  local ok=0
  wait_for 10 $A env SNMP_PERSISTENT_DIR="$RUN/snmpvar" snmpget -r0 -t0.3 -v2c -c public 10.99.0.11 1.3.6.1.2.1.1.5.0 \
    && log "snmpd ready" || { log "snmpd FAILED"; cat "$RUN/snmpd.log" "$RUN/snmpd.daemon.log"; ok=1; }
  wait_for 15 listening otz-plc 502 && log "pymodbus ready" || { log "pymodbus FAILED"; cat "$RUN/pymodbus.log"; ok=1; }
  wait_for 5 listening otz-plc 5020 && wait_for 5 listening otz-rtu 502 && log "libmodbus ready (.10:5020, .13:502)" \
    || { log "libmodbus FAILED"; cat "$RUN/libmodbus.log" "$RUN/rtu.log"; ok=1; }
  wait_for 5 listening otz-plc 8443 && log "openssl s_server ready (.10:8443)" || { log "openssl s_server FAILED"; cat "$RUN/tls.log"; ok=1; }
  wait_for 5 listening otz-mute 502 && log "mute listener ready" || { log "mute listener FAILED"; cat "$RUN/mute.log"; ok=1; }
  wait_for 15 grep -q "bacnet peer: device" "$RUN/bacnet.log" && log "bacnet .16 ready" || { log "bacnet FAILED"; cat "$RUN/bacnet.log"; ok=1; }
  wait_for 60 grep -q READY "$RUN/opcua.log" && log "opcua .12 ready" || { log "opcua FAILED"; cat "$RUN/opcua.log"; ok=1; }
  wait_for 60 grep -q READY "$RUN/opcua-weak.log" && log "opcua-weak .15 ready" || { log "opcua-weak FAILED"; cat "$RUN/opcua-weak.log"; ok=1; }
  if [ $ok -ne 0 ]; then echo "zone.sh: a peer did not start; tearing down"; down; return 1; fi
  log "zone up"
}

down() {
  T0=$EPOCHREALTIME
  local f p ns
  for f in "$RUN"/*.pid; do [ -f "$f" ] && kill "$(cat "$f")" 2>/dev/null; done
  for f in "$RUN"/*.pid; do
    [ -f "$f" ] || continue
    p=$(cat "$f")
    for _ in $(seq 1 30); do alive "$p" || break; sleep 0.1; done
    alive "$p" && kill -9 "$p" 2>/dev/null
    rm -f "$f"
  done
  # anything else still running inside our namespaces (started by a test): by PID
  for ns in $ALLNS; do
    zone_exists "$ns" || continue
    for p in $(ip netns pids "$ns" 2>/dev/null); do kill "$p" 2>/dev/null; done
  done
  for ns in $ALLNS; do
    zone_exists "$ns" || continue
    for _ in $(seq 1 20); do [ -z "$(ip netns pids "$ns" 2>/dev/null)" ] && break; sleep 0.1; done
    for p in $(ip netns pids "$ns" 2>/dev/null); do kill -9 "$p" 2>/dev/null; done
    ip netns del "$ns" 2>/dev/null || echo "zone.sh: could not delete netns $ns"
  done
  log "zone down"
}

status() {
  local f up=0
  ip netns list | grep otz- && up=1
  for f in "$RUN"/*.pid; do
    [ -f "$f" ] || continue
    printf '%-12s ' "$(basename "$f" .pid)"
    ps -o pid=,stat=,args= -p "$(cat "$f")" || echo "(pid $(cat "$f") gone)"
  done
  [ $up -eq 1 ] || { echo "zone down"; return 1; }
}

# verify: the peers answer third-party clients (read-only requests only)
verify() {
  T0=$EPOCHREALTIME
  export SNMP_PERSISTENT_DIR=$RUN/snmpvar
  $A snmpget -v2c -c public 10.99.0.11 1.3.6.1.2.1.1.1.0 1.3.6.1.2.1.1.5.0
  $A snmpget -v3 -l authPriv -u otpriv -a SHA -A authpass123 -x AES -X privpass123 10.99.0.11 1.3.6.1.2.1.1.5.0
  if command -v mbpoll >/dev/null; then
    $A mbpoll -m tcp -a 1 -t 4 -r 1 -c 4 -1 -q 10.99.0.10 | grep '^\['
    $A mbpoll -m tcp -a 1 -t 4 -r 1 -c 2 -1 -q -p 5020 10.99.0.10 | grep '^\['
  fi
  log "verify done"
}

case "${1:-}" in
  up) up ;;
  down) down ;;
  status) status ;;
  verify) verify ;;
  *) echo "usage: $0 up|down|status|verify"; exit 2 ;;
esac
