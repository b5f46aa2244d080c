// Package server assembles Tally's HTTP handler: every route in routes.go,
// the middleware around them here.
package server

import (
	"log/slog"
	"net/http"
	"time"

	"github.com/tallyhq/tally/internal/api"
	"github.com/tallyhq/tally/internal/store"
)

// Deps is what the server needs.
type Deps struct {
	Store  *store.Store
	Logger *slog.Logger
	// Agent answers POST /agent; nil until inventory ingestion is wired.
	Agent http.Handler
	// SBOM answers POST /sbom (SBOM uploads, docs/sbom.md); nil when not wired.
	SBOM http.Handler
	// Extra routes (pattern → handler) added by other components.
	Extra map[string]http.Handler
}

// New returns the HTTP handler of a Tally server.
func New(d Deps) http.Handler {
	mux := http.NewServeMux()
	addRoutes(mux, d, api.New(d.Store, d.Logger))
	return recoverPanics(d.Logger, logRequests(d.Logger, mux))
}

type statusRecorder struct {
	http.ResponseWriter
	status int
}

func (r *statusRecorder) WriteHeader(code int) {
	r.status = code
	r.ResponseWriter.WriteHeader(code)
}

func logRequests(log *slog.Logger, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		rec := &statusRecorder{ResponseWriter: w, status: http.StatusOK}
		next.ServeHTTP(rec, r)
		log.DebugContext(r.Context(), "http request", "method", r.Method, "path", r.URL.Path, "status", rec.status, "duration", time.Since(start))
	})
}

// recoverPanics turns a handler panic into a 500: a real server fault, the
// one case for a 5xx.
func recoverPanics(log *slog.Logger, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer func() {
			if v := recover(); v != nil {
				if v == http.ErrAbortHandler {
					panic(v)
				}
				log.ErrorContext(r.Context(), "panic in handler", "path", r.URL.Path, "panic", v)
				http.Error(w, "internal server error", http.StatusInternalServerError)
			}
		}()
		next.ServeHTTP(w, r)
	})
}
