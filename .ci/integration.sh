#!/usr/bin/env bash
# Integration suite of the active collectors against real devices.
#
# Installs the zone's Debian and npm packages, builds the otaudit binary and
# the test binary (outside the zone: the namespaces have no route to a module
# proxy), brings the test zone up (.ci/testbed/zone.sh), runs
# collectors/integration inside the agent's namespace otz-audit and always
# tears the zone down. Needs root. `make integration` runs it; .ci/run runs
# it after `make test`.
#
# Environment:
#   OTAUDIT_INTEGRATION_RUN  go test -run pattern for the suite (default: all)
#   OTZ_SKIP_INSTALL=1       trust that the packages are there (developer loop)
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
TB=$ROOT/.ci/testbed
OUT=$TB/run/bin
export PATH="/usr/local/go/bin:$PATH"
export DEBIAN_FRONTEND=noninteractive
T0=$EPOCHREALTIME
step() { printf '== integration [%6.1fs] %s\n' "$(awk -v a="$T0" -v b="$EPOCHREALTIME" 'BEGIN{print b-a}')" "$*"; }

if [ "$(id -u)" != 0 ]; then
  echo "integration: needs root (network namespaces); run as root or with sudo" >&2
  exit 1
fi

# ---- packages
DEB_PKGS=(snmpd snmp python3-pymodbus python3-serial python3-serial-asyncio mbpoll libmodbus-dev gcc pkg-config
          tcpdump iproute2 iputils-ping openssl)
command -v node >/dev/null 2>&1 || DEB_PKGS+=(nodejs npm)   # node-opcua 2.182.2 runs on Node >= 18
missing=()
for p in "${DEB_PKGS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ "${OTZ_SKIP_INSTALL:-0}" != 1 ] && [ ${#missing[@]} -gt 0 ]; then
  step "apt-get install ${missing[*]}"
  # snmpd would start on the host's 0.0.0.0:161 on installation; the zone runs
  # its own in a namespace. Forbid service starts for the install, unless the
  # machine already does (policy-rc.d present).
  guard=""
  if [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d && chmod 755 /usr/sbin/policy-rc.d && guard=1
  fi
  rc=0
  { apt-get update -qq && apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null; } || rc=$?
  [ -n "$guard" ] && rm -f /usr/sbin/policy-rc.d
  [ $rc -eq 0 ] || { echo "integration: apt-get install failed" >&2; exit $rc; }
  if command -v systemctl >/dev/null 2>&1 && systemctl is-active --quiet snmpd 2>/dev/null; then
    systemctl stop snmpd; systemctl disable snmpd >/dev/null 2>&1 || true   # belt and braces
  fi
fi
if [ ! -d "$TB/opcua/node_modules/node-opcua" ]; then
  step "npm ci (node-opcua 2.182.2)"
  (cd "$TB/opcua" && npm ci --no-audit --no-fund --cache "${NPM_CONFIG_CACHE:-$ROOT/.ci/cache/npm}" >/dev/null)
fi
if [ ! -d "$TB/bacnet/node_modules/node-bacnet" ]; then
  step "npm ci (node-bacnet 0.2.4)"
  (cd "$TB/bacnet" && npm ci --no-audit --no-fund --cache "${NPM_CONFIG_CACHE:-$ROOT/.ci/cache/npm}" >/dev/null)
fi

# ---- binaries, built outside the zone
step "build otaudit and the integration test binary"
mkdir -p "$OUT"
go build -o "$OUT/otaudit" ./cmd/otaudit
go test -c -tags integration -o "$OUT/integration.test" ./collectors/integration

# ---- zone
if ip netns list | grep -qw otz-sw; then
  step "a zone from an earlier run is still up: tearing it down"
  "$TB/zone.sh" down
fi
trap '"$TB/zone.sh" down' EXIT
step "zone up"
"$TB/zone.sh" up

# ---- suite, inside the agent's namespace
step "suite"
log=$TB/run/integration.log
rc=0
(cd "$ROOT/collectors/integration" &&
  ip netns exec otz-audit env OTAUDIT_BIN="$OUT/otaudit" \
    "$OUT/integration.test" -test.v -test.count=1 -test.timeout=15m ${OTAUDIT_INTEGRATION_RUN:+-test.run "$OTAUDIT_INTEGRATION_RUN"}) \
  2>&1 | tee "$log" || rc=$?
pass=$(grep -c -- '--- PASS' "$log" || true)
fail=$(grep -c -- '--- FAIL' "$log" || true)
skip=$(grep -c -- '--- SKIP' "$log" || true)
step "suite done (exit $rc)"
echo "integration: $pass passed, $fail failed, $skip skipped"
exit $rc
