package main

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"

	"github.com/spf13/cobra"

	"github.com/catalog-org/catalog/ingest"
	"github.com/catalog-org/catalog/ingest/gen"
)

func genCommand() *cobra.Command {
	var seed uint64
	var n int
	var reuse float64
	var out, format string
	cmd := &cobra.Command{
		Use:   "gen",
		Short: "Write a deterministic synthetic catalogue as DDEX ERN 4.3 (and/or JSON) deliveries",
		Long: `Writes n releases (albums of 8-20 tracks, some multi-disc, EPs and singles; several artists on
some tracks; deals in 1 to 249 territories across download, subscription and ad-supported models with
staggered start dates) as first deliveries, then later deliveries for about 5% each of them: metadata
updates, deal changes, takedowns and purges. A share of the releases (--reuse, 7% by default, as in
real catalogues) are compilations and reissues carrying recordings of earlier releases under the same
ISRCs: each is a release of its own, and its tracks are catalogue tracks of their own. File names sort
in sending order; the same seed and --reuse always write the same files. ` + "`catalog ingest DIR`" + ` loads
them.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if format != "ern" && format != "json" && format != "both" {
				return fmt.Errorf("--format %q: want ern, json or both", format)
			}
			if reuse < 0 || reuse > 1 || reuse != reuse {
				return fmt.Errorf("--reuse %v: want a share from 0 to 1 (0.07 is 7%% of the releases)", reuse)
			}
			if n < 0 {
				return fmt.Errorf("--releases %d: want 0 or more", n)
			}
			if err := os.MkdirAll(out, 0o755); err != nil {
				return err
			}
			count := 0
			for _, d := range gen.Catalogue(seed, n, reuse) {
				if format != "json" {
					var buf bytes.Buffer
					if err := gen.ERN43(&buf, d); err != nil {
						return err
					}
					if err := os.WriteFile(filepath.Join(out, d.Name+".xml"), buf.Bytes(), 0o644); err != nil {
						return err
					}
					count++
				}
				if format != "ern" {
					b, err := ingest.EncodeJSON(d.Release)
					if err != nil {
						return err
					}
					if err := os.WriteFile(filepath.Join(out, d.Name+".json"), b, 0o644); err != nil {
						return err
					}
					count++
				}
			}
			fmt.Fprintf(cmd.OutOrStdout(), "%d files written to %s\n", count, out)
			return nil
		},
	}
	cmd.Flags().Uint64Var(&seed, "seed", 1, "generator seed")
	cmd.Flags().IntVar(&n, "releases", 1000, "number of releases")
	cmd.Flags().Float64Var(&reuse, "reuse", gen.DefaultReuse, "share of releases (0 to 1) that are compilations or reissues reusing earlier releases' ISRCs")
	cmd.Flags().StringVar(&out, "out", "catalogue", "output folder")
	cmd.Flags().StringVar(&format, "format", "ern", "ern, json or both")
	return cmd
}
