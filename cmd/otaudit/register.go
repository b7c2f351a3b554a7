package main

import (
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	stdio "io"
	"os"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"

	"github.com/otaudit/otaudit"
	"github.com/otaudit/otaudit/agent"
	"github.com/otaudit/otaudit/configs"
)

// ---- register: the approved asset register as CSV

// registerHeader is the column order configs reads (configs/register.go).
var registerHeader = []string{"ip", "mac", "name", "vendor", "model", "firmware", "role"}

type registerExportOptions struct {
	g      *globalOptions
	io     streams
	Output string
	From   string
}

func newRegisterCmd(g *globalOptions, io streams) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "register",
		Short: "Export the asset register as CSV for review, or check a register CSV",
		Long: `The asset register is the CSV asset owners keep (header
ip,mac,name,vendor,model,firmware,role) that a zone configuration names in
zone.asset_register_csv. 'register export' writes the zone's current
inventory (or the configured register) in that format, so that an owner can
review it, fill in roles and approve it; 'register check' validates a file
with the same parser the configuration uses and reports every problem.`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return usageError{errors.New("register: name a subcommand (export, check)")}
		},
	}
	cmd.AddCommand(newRegisterExportCmd(g, io), newRegisterCheckCmd(g, io))
	return cmd
}

func newRegisterExportCmd(g *globalOptions, io streams) *cobra.Command {
	o := &registerExportOptions{g: g, io: io}
	cmd := &cobra.Command{
		Use:   "export -o FILE.csv [--from inventory|config]",
		Short: "Write the zone's assets as an asset-register CSV",
		Args:  noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if o.From != "inventory" && o.From != "config" {
				return usageError{fmt.Errorf("--from %q: want inventory or config", o.From)}
			}
			a, err := g.newAgent(io, false)
			if err != nil {
				return err
			}
			var entries []otaudit.RegisteredAsset
			if o.From == "config" {
				entries, err = a.RegisterFromConfig()
			} else {
				entries, err = a.RegisterFromInventory(cmd.Context())
			}
			if err != nil {
				return err
			}
			write := func(w stdio.Writer) error { return writeRegisterCSV(w, entries) }
			if o.Output == "" || o.Output == "-" {
				return write(io.Out)
			}
			if err := agent.WriteFileAtomic(o.Output, write); err != nil {
				return err
			}
			fmt.Fprintf(io.Err, "wrote %d register entr%s to %s\n", len(entries), plural(len(entries), "y", "ies"), o.Output)
			return nil
		},
	}
	cmd.Flags().StringVarP(&o.Output, "output", "o", "", "CSV file to write (default: standard output)")
	cmd.Flags().StringVar(&o.From, "from", "inventory", "inventory (the zone's current assets) or config (the register the configuration declares)")
	return cmd
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}

// writeRegisterCSV writes entries as an RFC 4180 CSV (CRLF line ends,
// UTF-8) under the header configs reads.
func writeRegisterCSV(w stdio.Writer, entries []otaudit.RegisteredAsset) error {
	cw := csv.NewWriter(w)
	cw.UseCRLF = true
	if err := cw.Write(registerHeader); err != nil {
		return fmt.Errorf("register CSV: %w", err)
	}
	for _, e := range entries {
		ip := ""
		if e.IP.IsValid() {
			ip = e.IP.String()
		}
		row := []string{ip, e.MAC, cell(e.Name), cell(e.Vendor), cell(e.Model), cell(e.Firmware), cell(e.Role)}
		if err := cw.Write(row); err != nil {
			return fmt.Errorf("register CSV: %w", err)
		}
	}
	cw.Flush()
	if err := cw.Error(); err != nil {
		return fmt.Errorf("register CSV: %w", err)
	}
	return nil
}

// cell neutralises spreadsheet formulas. Names and versions come from what
// devices say about themselves, so a hostile device could name itself
// "=HYPERLINK(...)"; the owner opens this file in a spreadsheet. A leading
// apostrophe makes the spreadsheet show the text instead of running it.
func cell(s string) string {
	if s != "" && strings.ContainsRune("=+-@\t\r", rune(s[0])) {
		return "'" + s
	}
	return s
}

// registerCheckJSON is `otaudit register check --json`.
type registerCheckJSON struct {
	File     string                    `json:"file"`
	OK       bool                      `json:"ok"`
	Entries  []otaudit.RegisteredAsset `json:"entries"`
	Problems []configs.Problem         `json:"problems"`
}

func newRegisterCheckCmd(g *globalOptions, io streams) *cobra.Command {
	return &cobra.Command{
		Use:   "check FILE.csv",
		Short: "Validate an asset-register CSV and report every problem with file:line",
		Args:  exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			entries, problems, err := readRegister(args[0])
			if err != nil {
				return err
			}
			if g.JSON {
				if entries == nil {
					entries = []otaudit.RegisteredAsset{}
				}
				if problems == nil {
					problems = []configs.Problem{}
				}
				if err := writeJSON(io.Out, registerCheckJSON{File: args[0], OK: len(problems) == 0, Entries: entries, Problems: problems}); err != nil {
					return err
				}
			} else {
				for _, p := range problems {
					fmt.Fprintln(io.Out, p.String())
				}
			}
			if len(problems) > 0 {
				return fmt.Errorf("%s: %d problem(s)", args[0], len(problems))
			}
			if !g.JSON {
				byMAC := 0
				for _, e := range entries {
					if !e.IP.IsValid() {
						byMAC++
					}
				}
				fmt.Fprintf(io.Out, "%s: ok — %d entr%s (%d by MAC only)\n", args[0], len(entries), plural(len(entries), "y", "ies"), byMAC)
			}
			return nil
		},
	}
}

// readRegister validates a register CSV with the configuration's own parser:
// it loads a minimal zone that names the file, so that the rules (columns,
// addresses, MACs, duplicates) and the problem positions are exactly those
// of `zone.asset_register_csv`.
func readRegister(path string) ([]otaudit.RegisteredAsset, []configs.Problem, error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, nil, fmt.Errorf("register %s: %w", path, err)
	}
	if _, err := os.Stat(abs); err != nil {
		return nil, nil, fmt.Errorf("register %s: %w", path, unwrapPath(err))
	}
	quoted, err := json.Marshal(abs) // a JSON string is a YAML double-quoted scalar
	if err != nil {
		return nil, nil, fmt.Errorf("register %s: %w", path, err)
	}
	doc := fmt.Sprintf("version: 1\nzone:\n  name: register-check\n  asset_register_csv: %s\n", quoted)
	cfg, err := configs.Parse(path, []byte(doc), "")
	var cerr *configs.ConfigError
	if errors.As(err, &cerr) {
		problems := cerr.Problems
		for i := range problems {
			// Report the file the way the operator named it.
			if problems[i].File == abs {
				problems[i].File = path
			}
		}
		return nil, problems, nil
	}
	if err != nil {
		return nil, nil, err
	}
	z, err := cfg.ZoneModel()
	if err != nil {
		return nil, nil, err
	}
	return z.Register, nil, nil
}

func unwrapPath(err error) error {
	var pe *os.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}
