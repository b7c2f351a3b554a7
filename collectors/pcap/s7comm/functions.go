package s7comm

import (
	"fmt"

	"github.com/otaudit/otaudit"
)

// Job / Ack_Data function codes (Dacs7 FunctionCode, Wireshark s7comm,
// INL/CISA Zeek s7comm consts; reference S16 of iec62443.md).
const (
	FuncCPUServices     = 0x00
	FuncSetupComm       = 0xf0
	FuncReadVar         = 0x04
	FuncWriteVar        = 0x05
	FuncRequestDownload = 0x1a
	FuncDownloadBlock   = 0x1b
	FuncDownloadEnded   = 0x1c
	FuncStartUpload     = 0x1d
	FuncUpload          = 0x1e
	FuncEndUpload       = 0x1f
	FuncPIService       = 0x28
	FuncPLCStop         = 0x29
)

// Function is what a message does to a device.
type Function struct {
	Name  string
	Class otaudit.OperationClass
}

// jobFunctions classify the Job codes: program download (0x1A–0x1C) and
// upload (0x1D–0x1F) are what the engineering-access checks look for; a
// PI-Service (0x28) starts, resumes or reorganises the program (e.g.
// "P_PROGRAM" = RUN) and PLC Stop (0x29) halts it, so both change the
// operating mode (reference #20).
var jobFunctions = map[byte]Function{
	FuncCPUServices:     {"CPU services", otaudit.OpOther},
	FuncSetupComm:       {"Setup communication", otaudit.OpOther},
	FuncReadVar:         {"Read Var", otaudit.OpRead},
	FuncWriteVar:        {"Write Var", otaudit.OpWrite},
	FuncRequestDownload: {"Request download", otaudit.OpProgramDownload},
	FuncDownloadBlock:   {"Download block", otaudit.OpProgramDownload},
	FuncDownloadEnded:   {"Download ended", otaudit.OpProgramDownload},
	FuncStartUpload:     {"Start upload", otaudit.OpProgramUpload},
	FuncUpload:          {"Upload", otaudit.OpProgramUpload},
	FuncEndUpload:       {"End upload", otaudit.OpProgramUpload},
	FuncPIService:       {"PI-Service", otaudit.OpModeChange},
	FuncPLCStop:         {"PLC Stop", otaudit.OpModeChange},
}

// JobFunction names and classifies a Job / Ack_Data function code.
func JobFunction(fn byte) Function {
	if f, ok := jobFunctions[fn]; ok {
		return f
	}
	return Function{fmt.Sprintf("Function 0x%02x", fn), otaudit.OpOther}
}

// Userdata function groups.
const (
	GroupModeTransition = 0x0
	GroupProgrammer     = 0x1
	GroupCyclicData     = 0x2
	GroupBlock          = 0x3
	GroupCPU            = 0x4
	GroupSecurity       = 0x5
	GroupPBC            = 0x6
	GroupTime           = 0x7
	GroupNCProgramming  = 0xf
)

var groupNames = map[byte]string{
	GroupModeTransition: "Mode transition",
	GroupProgrammer:     "Programmer commands",
	GroupCyclicData:     "Cyclic data",
	GroupBlock:          "Block functions",
	GroupCPU:            "CPU functions",
	GroupSecurity:       "Security",
	GroupPBC:            "PBC BSEND/BRECV",
	GroupTime:           "Time functions",
	GroupNCProgramming:  "NC programming",
}

type groupSub struct{ group, sub byte }

// userdataFunctions classify the Userdata subfunctions worth naming.
// Reading the SZL (system status list) is how a client identifies a CPU;
// setting the clock changes device state, so it is a write. Programmer
// commands (VarTab, Forces, diagnostics) are classed diagnostic: telling a
// force or VarTab write from a read needs their item decoding, which this
// parser does not do.
var userdataFunctions = map[groupSub]Function{
	{GroupProgrammer, 0x01}: {"Request diag data (type 1)", otaudit.OpDiagnostic},
	{GroupProgrammer, 0x02}: {"VarTab", otaudit.OpDiagnostic},
	{GroupProgrammer, 0x0c}: {"Erase", otaudit.OpDiagnostic},
	{GroupProgrammer, 0x0e}: {"Read diag data", otaudit.OpDiagnostic},
	{GroupProgrammer, 0x0f}: {"Remove diag data", otaudit.OpDiagnostic},
	{GroupProgrammer, 0x10}: {"Forces", otaudit.OpDiagnostic},
	{GroupProgrammer, 0x13}: {"Request diag data (type 2)", otaudit.OpDiagnostic},
	{GroupCyclicData, 0x01}: {"Memory", otaudit.OpRead},
	{GroupCyclicData, 0x04}: {"Unsubscribe", otaudit.OpRead},
	{GroupBlock, 0x01}:      {"List blocks", otaudit.OpRead},
	{GroupBlock, 0x02}:      {"List blocks of type", otaudit.OpRead},
	{GroupBlock, 0x03}:      {"Get block info", otaudit.OpRead},
	{GroupCPU, 0x01}:        {"Read SZL", otaudit.OpIdentify},
	{GroupCPU, 0x02}:        {"Message service", otaudit.OpDiagnostic},
	{GroupCPU, 0x03}:        {"Diagnostic message", otaudit.OpDiagnostic},
	{GroupCPU, 0x05}:        {"ALARM_8 indication", otaudit.OpDiagnostic},
	{GroupCPU, 0x06}:        {"NOTIFY indication", otaudit.OpDiagnostic},
	{GroupCPU, 0x0b}:        {"ALARM ack", otaudit.OpDiagnostic},
	{GroupCPU, 0x0c}:        {"ALARM_S indication", otaudit.OpDiagnostic},
	{GroupCPU, 0x13}:        {"ALARM query", otaudit.OpDiagnostic},
	{GroupSecurity, 0x01}:   {"PLC password", otaudit.OpOther},
	{GroupTime, 0x01}:       {"Read clock", otaudit.OpRead},
	{GroupTime, 0x02}:       {"Set clock", otaudit.OpWrite},
	{GroupTime, 0x03}:       {"Read clock (following)", otaudit.OpRead},
	{GroupTime, 0x04}:       {"Set clock", otaudit.OpWrite},
}

// UserdataCode is the operation code of a Userdata message: 0x1000 plus
// the group times 0x100 plus the subfunction, so it never collides with a
// Job function code (< 0x100) and reads as hex (0x1401 = group 4, Read SZL).
func UserdataCode(group, sub byte) int { return 0x1000 | int(group&0x0f)<<8 | int(sub) }

// UserdataFunction names and classifies a Userdata group and subfunction.
func UserdataFunction(group, sub byte) Function {
	g := groupNames[group&0x0f]
	if g == "" {
		g = fmt.Sprintf("Group %d", group&0x0f)
	}
	if f, ok := userdataFunctions[groupSub{group & 0x0f, sub}]; ok {
		f.Name = "Userdata " + g + ": " + f.Name
		return f
	}
	return Function{fmt.Sprintf("Userdata %s: subfunction %d", g, sub), otaudit.OpOther}
}
