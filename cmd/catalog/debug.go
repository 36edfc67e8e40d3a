package main

import (
	"net/http"
	"net/http/pprof"
)

// debugHandler serves Go's runtime profiles (/debug/pprof/...). It is mounted
// only on the operations addresses (the projector's and the gateway's metrics
// address), which listen on loopback by default, never on a public one.
func debugHandler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	return mux
}
