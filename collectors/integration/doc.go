// Package integration holds the end-to-end tests of the active collectors
// against real third-party devices: net-snmp's snmpd, pymodbus, libmodbus and
// node-opcua, each in its own network namespace of the test zone that
// .ci/testbed/zone.sh builds (10.99.0.0/24, no route out).
//
// The tests carry the build tag "integration", so `make test` never needs
// root or the peers; `make integration` (.ci/integration.sh) installs the
// peers, brings the zone up, runs them inside the agent's namespace otz-audit
// and tears the zone down. They run the real otaudit binary, capture the
// agent's own traffic with tcpdump and prove from the capture that it stayed
// read-only, within its rate caps and within its dry-run plan.
//
// Nothing but tests lives here; the package has no API. Tests address only
// 10.99.0.x hosts inside the zone.
package integration
