package checks

import "github.com/otaudit/otaudit"

// applicability is what a check applies to in one zone.
type applicability struct {
	// assets are the keys of the assets the check looked at; a finding's
	// asset always counts as in scope as well.
	assets []string
	// notAssessed, when set, makes the check NOT_ASSESSED: the zone lacks a
	// declaration the check cannot do without.
	notAssessed string
	// notApplicable explains an empty scope.
	notApplicable string
}

// rule is one check's evaluator: what it applies to, and what fails.
type rule struct {
	scope    func(in *Input) applicability
	evaluate func(in *Input) []otaudit.Finding
}

// rules is the one table of evaluators, keyed by catalog check ID. A catalog
// check without an entry here is NOT_ASSESSED; an entry without a catalog
// check fails registry_test.
var rules = map[string]rule{
	// AC 1 identification and authentication
	"AC-SNMP-V1V2C-ENABLED":             {scopeSNMPAgents, evalSNMPv1v2c},
	"AC-CLEARTEXT-LOGIN-TELNET":         {scopeZoneAssets, evalCleartextTelnet},
	"AC-CLEARTEXT-LOGIN-FTP":            {scopeZoneAssets, evalCleartextFTP},
	"AC-CLEARTEXT-LOGIN-HTTP-BASIC":     {scopeZoneAssets, evalCleartextHTTPBasic},
	"AC-CLEARTEXT-LOGIN-SNMP":           {scopeZoneAssets, evalCleartextSNMP},
	"AC-DEFAULT-CREDENTIAL-OBSERVED":    {scopeZoneAssets, evalDefaultCredential},
	"AC-SHARED-CREDENTIAL-MANY-DEVICES": {scopeZoneAssets, evalSharedCredential},
	"AC-DEFAULT-SNMP-COMMUNITY":         {scopeSNMPCommunityProbed, evalDefaultSNMPCommunity},
	"AC-SNMP-WRITE-COMMUNITY":           {scopeSNMPCommunityProbed, evalSNMPWriteCommunity},
	"AC-SNMPV3-WEAK-SECURITY-LEVEL":     {scopeSNMPv3Probed, evalSNMPv3WeakLevel},
	"AC-OPCUA-ANONYMOUS-ACCESS":         {scopeOPCUAProbed, evalOPCUAAnonymousAccess},
	"AC-OPCUA-DEFAULT-CREDENTIALS":      {scopeOPCUAProbed, evalOPCUADefaultCredentials},
	"AC-OPCUA-USERTOKEN-UNPROTECTED":    {scopeOPCUAProbed, evalOPCUAUserTokenUnprotected},
	"AC-SHARED-ACCOUNT-MANY-USERS":      {scopeAccountServers, evalSharedAccount},
	// AC 2 use control
	"AC-MODBUS-WRITE-UNAUTHORIZED-SOURCE": {scopeModbusServers, evalModbusWrite},
	"AC-ICS-WRITE-UNAUTHORIZED-SOURCE":    {scopeControlTargets, evalICSWrite},
	"AC-PLC-PROGRAM-DOWNLOAD":             {scopeControlTargets, evalProgramDownload},
	"AC-PLC-MODE-CHANGE":                  {scopeControlTargets, evalModeChange},
	"AC-ENGINEERING-SESSION-FROM-NON-EWS": {scopeControlTargets, evalProgramUpload},
	"AC-OPCUA-ANONYMOUS-WRITE":            {scopeOPCUAProbed, evalOPCUAAnonymousWrite},
	// AC 3 remote access
	"AC-RA-EXTERNAL-DIRECT":         {scopeBoundedOTZone, evalRAExternalDirect},
	"AC-RA-NOT-VIA-JUMPHOST":        {scopeBoundedZone, evalRANotViaJumpHost},
	"AC-RA-UNENCRYPTED":             {scopeZoneAssets, evalRAUnencrypted},
	"AC-RA-SESSION-EXCEEDS-MAX":     {scopeZoneAssets, evalRASessionExceedsMax},
	"AC-RA-UNAPPROVED-TOOL":         {scopeZoneAssets, evalRAUnapprovedTool},
	"AC-RA-ROGUE-VPN-ENDPOINT":      {scopeZoneAssets, evalRARogueVPN},
	"AC-RA-OUTSIDE-APPROVED-WINDOW": {scopeMaintenanceWindows, evalRAOutsideWindow},
	// AC 4 network access
	"AC-FLOW-UNDECLARED-CONDUIT":      {scopeBoundedZone, evalUndeclaredConduit},
	"AC-PROTOCOL-NOT-ALLOWED-IN-ZONE": {scopeAllowList, evalProtocolNotAllowed},
	"AC-OT-INTERNET-COMMUNICATION":    {scopeZoneAssets, evalInternetCommunication},
	"AC-GENERAL-PURPOSE-COMMS-IN-OT":  {scopeZoneAssets, evalGeneralPurposeComms},
	// DC
	"DC-OPCUA-SECURITYPOLICY-NONE":        {scopeOPCUAServers, evalOPCUAPolicyNone},
	"DC-OPCUA-MESSAGEMODE-SIGN-ONLY":      {scopeOPCUAProbed, evalOPCUASignOnly},
	"DC-OPCUA-DEPRECATED-POLICY":          {scopeOPCUAAnyServers, evalOPCUADeprecatedPolicy},
	"DC-OPCUA-CERT-EXPIRED-OR-INVALID":    {scopeOPCUACertificates, evalOPCUACertExpired},
	"DC-OPCUA-CERT-SELF-SIGNED":           {scopeOPCUACertificates, evalOPCUACertSelfSigned},
	"DC-OPCUA-CERT-WEAK-CRYPTO":           {scopeOPCUACertificates, evalOPCUACertWeakCrypto},
	"DC-SNMPV3-NO-PRIVACY":                {scopeSNMPv3Agents, evalSNMPv3NoPrivacy},
	"DC-TFTP-CONFIG-OR-FIRMWARE-TRANSFER": {scopeControllers, evalTFTPTransfer},
	// AM
	"AM-UNKNOWN-DEVICE":    {scopeRegisteredZone, evalUnknownDevice},
	"AM-NO-IDENTIFICATION": {scopeUnicastAssets, evalNoIdentification},
	"AM-REGISTER-MISMATCH": {scopeRegisteredAssets, evalRegisterMismatch},
	"AM-DUPLICATE-IP":      {scopeZoneAssets, evalDuplicateIP},
	"AM-DUPLICATE-MAC":     {scopeMACAssets, evalDuplicateMAC},
	// AM drift against the zone's baseline (am_baseline.go)
	"AM-FIRMWARE-CHANGED":          {scopeBaselinedAssets, evalFirmwareChanged},
	"AM-NEW-DEVICE-SINCE-BASELINE": {scopeBaselineZone, evalNewDeviceSinceBaseline},
	// SI
	"SI-INSECURE-MGMT-SERVICE-FIELD-DEVICE": {scopeControllers, evalInsecureMgmtService},
	"SI-UNNECESSARY-SERVICE":                {scopeControllers, evalUnnecessaryService},
	"SI-CLEARTEXT-CONTROL-ACROSS-BOUNDARY":  {scopeBoundedZone, evalCleartextControlAcrossBoundary},
	// IM
	"IM-LOGIN-BRUTEFORCE":    {scopeZoneAssets, evalLoginBruteforce},
	"IM-RECON-SCAN-DETECTED": {scopeZoneAssets, evalReconScan},
	"IM-NO-LOG-FORWARDING":   {scopeLogSources, evalNoLogForwarding},
	"IM-NO-TIME-SYNC":        {scopeTimeSync, evalNoTimeSync},
}

// Evaluators lists the IDs of the checks that have an evaluator, sorted.
func Evaluators() []string {
	out := make([]string, 0, len(rules))
	for id := range rules {
		out = append(out, id)
	}
	return sortedKeys(toSet(out))
}

func toSet(xs []string) map[string]bool {
	m := make(map[string]bool, len(xs))
	for _, x := range xs {
		m[x] = true
	}
	return m
}

// Common scopes.

func scopeZoneAssets(in *Input) applicability {
	return applicability{assets: assetKeys(in.insideAssets()), notApplicable: "no assets inside the zone"}
}

func scopeControllers(in *Input) applicability {
	return applicability{assets: assetKeys(in.controllers()), notApplicable: "no field devices (controllers) inside the zone"}
}

func scopeBoundedZone(in *Input) applicability {
	if !in.Zone.Bounded() {
		return applicability{notApplicable: "zone " + in.Zone.Name + " declares no address ranges, so it has no boundary"}
	}
	return scopeZoneAssets(in)
}
