package api

import (
	"net/http"
	"net/http/pprof"
)

// pprofRoutes mounts Go's runtime profiles (CPU, heap, goroutines, …)
// under /debug/pprof/ through admin, so they need what the admin API
// needs: profiles reveal the program's internals and a CPU profile costs
// CPU while it runs.
func pprofRoutes(admin func(pattern string, h http.HandlerFunc)) {
	admin("GET /debug/pprof/", pprof.Index)
	admin("GET /debug/pprof/cmdline", pprof.Cmdline)
	admin("GET /debug/pprof/profile", pprof.Profile)
	admin("GET /debug/pprof/symbol", pprof.Symbol)
	admin("GET /debug/pprof/trace", pprof.Trace)
}
