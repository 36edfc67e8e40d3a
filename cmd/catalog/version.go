package main

import (
	"fmt"
	"runtime/debug"

	"github.com/spf13/cobra"
)

// versionCommand prints what the binary was built from, as the Go
// toolchain recorded it: the module version, the commit, its time and
// whether the work tree had changes, and the Go version.
func versionCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print the version, commit and Go version the binary was built from",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			_, err := fmt.Fprintln(cmd.OutOrStdout(), buildVersion())
			return err
		},
	}
}

// buildRevision is the commit, for builds without version control
// information (a container build from a context without .git): set with
// -ldflags "-X main.buildRevision=COMMIT".
var buildRevision string

// buildVersion is one line such as
// "catalog (devel) commit 4b0c4c1a2b3c (2026-12-06T06:05:00Z, modified) go1.26.8".
func buildVersion() string {
	info, ok := debug.ReadBuildInfo()
	if !ok {
		return "catalog (no build information)"
	}
	vcs := map[string]string{}
	for _, s := range info.Settings {
		vcs[s.Key] = s.Value
	}
	out := "catalog " + info.Main.Version
	if vcs["vcs.revision"] == "" {
		vcs["vcs.revision"] = buildRevision
	}
	if rev := vcs["vcs.revision"]; rev != "" {
		if len(rev) > 12 {
			rev = rev[:12]
		}
		out += " commit " + rev
		detail := vcs["vcs.time"]
		if vcs["vcs.modified"] == "true" {
			detail += ", modified"
		}
		if detail != "" {
			out += " (" + detail + ")"
		}
	}
	return out + " " + info.GoVersion
}
