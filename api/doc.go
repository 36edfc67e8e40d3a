// Package api is catalog's public catalogue API, in the wire shape of
// 7digital's API 1.2 so existing clients keep working: XML envelopes
// <response status="ok|error" version="1.2">, 7digital error codes, and
// query parameter names matched case-insensitively.
package api
