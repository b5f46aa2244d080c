package cli

import (
	"flag"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"strings"

	"github.com/tallyhq/tally/internal/sbom"
)

// sbomFlags are tally serve's flags for the SBOM upload endpoint.
type sbomFlags struct {
	maxBytes *string
}

func addSBOMFlags(fs *flag.FlagSet, env *environment) *sbomFlags {
	return &sbomFlags{
		maxBytes: fs.String("sbom-max-bytes", env.envOr("TALLY_SBOM_MAX_BYTES", "64MiB"),
			"largest SBOM POST /sbom accepts, in bytes or with a KiB, MiB or GiB suffix (env TALLY_SBOM_MAX_BYTES)"),
	}
}

// handler returns the POST /sbom endpoint over the pipeline.
func (f *sbomFlags) handler(p sbom.Pipeline, logger *slog.Logger) (http.Handler, error) {
	n, err := parseByteSize(*f.maxBytes)
	if err != nil {
		return nil, fmt.Errorf("--sbom-max-bytes: %w", err)
	}
	return sbom.NewHandler(p, sbom.HandlerOptions{Logger: logger, MaxBytes: n}), nil
}

// parseByteSize reads "1048576", "512KiB", "64MiB" or "1GiB".
func parseByteSize(s string) (int64, error) {
	s = strings.TrimSpace(s)
	mult := int64(1)
	for _, u := range []struct {
		suffix string
		mult   int64
	}{{"KiB", 1 << 10}, {"MiB", 1 << 20}, {"GiB", 1 << 30}} {
		if strings.HasSuffix(s, u.suffix) {
			s, mult = strings.TrimSpace(strings.TrimSuffix(s, u.suffix)), u.mult
			break
		}
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n <= 0 || n > (1<<40)/mult {
		return 0, fmt.Errorf("%q is not a positive size (bytes, or a number with KiB, MiB or GiB)", s)
	}
	return n * mult, nil
}
