// Package gateway is catalog's one public door: it identifies the calling
// client by its consumer key, refuses unknown or disabled keys, and proxies
// the rest to the internal API with a fresh set of forwarding headers; to
// ingest it also names the DDEX parties the client may deliver as.
package gateway
