package server

import (
	"net/http"

	"github.com/tallyhq/tally/internal/api"
)

// addRoutes lists every route of the server.
func addRoutes(mux *http.ServeMux, d Deps, jsonAPI *api.API) {
	mux.HandleFunc("GET /healthz", handleHealthz(d))
	for _, path := range []string{"/api", "/api/v1.1", "/api/v1.2", "/api/v1.3", "/api/v1.4"} {
		mux.Handle("POST "+path, jsonAPI)
	}
	if d.Agent != nil {
		mux.Handle("POST /agent", d.Agent)
	}
	if d.SBOM != nil {
		mux.Handle("POST /sbom", d.SBOM)
	}
	for pattern, h := range d.Extra {
		mux.Handle(pattern, h)
	}
}

func handleHealthz(d Deps) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if err := d.Store.Ping(r.Context()); err != nil {
			http.Error(w, "database unavailable", http.StatusServiceUnavailable)
			return
		}
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		_, _ = w.Write([]byte("ok\n"))
	}
}
