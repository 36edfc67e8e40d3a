package ingest

import (
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"

	"github.com/catalog-org/catalog/domain/release"
)

// PartiesHeader carries the DDEX party ids the calling API client may
// deliver as, comma-separated, or AnyParty. The gateway sets it on every
// request it forwards to ingest (gateway.PartiesHeader), after removing
// any value the caller sent.
const PartiesHeader = "X-Catalog-Parties"

// AnyParty in PartiesHeader lets the client deliver as any party.
const AnyParty = "*"

// clientHeader names the calling API client (gateway.ClientHeader); ingest
// only logs it.
const clientHeader = "X-Catalog-Client"

// ErrNotClientParty is the condition of a PartyError.
var ErrNotClientParty = errors.New("the message speaks for a party its API client may not deliver as")

// PartyError rejects a delivery over HTTP whose header speaks for a party
// (MessageSender or SentOnBehalfOf) that the API client which sent it is
// not bound to, or that came without the gateway's PartiesHeader where
// Config.RequireParties asks for it. It changes nothing.
type PartyError struct {
	// Message is the rejected message.
	Message release.Message
	// Field is where the delivery names the party ("sender",
	// "sentOnBehalfOf", or the ERN element path of either).
	Field string
	// Party is the party the client may not deliver as ("" for a message
	// that names no sender).
	Party string
	// Allowed are the parties the client may deliver as; nil when the
	// request carried no PartiesHeader.
	Allowed []string
}

// Reason says why the delivery was rejected, without naming the message.
func (e *PartyError) Reason() string {
	if e.Allowed == nil {
		return "this ingest address takes deliveries only through the gateway, which names the parties the calling " +
			"API client may deliver as (" + PartiesHeader + "); this request came without them"
	}
	party := release.Quote(e.Party)
	if e.Party == "" {
		party = "the anonymous sender (no sender named)"
	}
	allowed := "no party"
	if len(e.Allowed) > 0 {
		allowed = quoteList(e.Allowed)
	}
	return fmt.Sprintf("the message speaks for %s, but the API client that sent it may deliver only as %s; "+
		"a client's key is bound to the parties it sends as, and its messages may name no other as sender or on-behalf-of party",
		party, allowed)
}

// Error names the message, the field and the reason.
func (e *PartyError) Error() string {
	name := e.Message.Name()
	if name == "" {
		name = "(unnamed message)"
	}
	return "rejected delivery " + name + ": " + e.Field + ": " + e.Reason()
}

// Unwrap returns ErrNotClientParty.
func (e *PartyError) Unwrap() error { return ErrNotClientParty }

// checkClient checks delivery d against the parties the API client that
// sent it (h: the request's headers) may deliver as, and logs a refusal.
func (s *Service) checkClient(h http.Header, d Delivery) error {
	err := checkParties(h, d, s.cfg.RequireParties)
	var pe *PartyError
	if errors.As(err, &pe) {
		s.log.Warn("delivery rejected: not a party of its API client", "message", pe.Message.Name(), "party", pe.Party,
			"client", h.Get(clientHeader), "allowed", pe.Allowed)
	}
	return err
}

// checkParties checks that the parties delivery d speaks for (its sender
// and the party it sends on behalf of) are among those h's PartiesHeader
// allows. A request without the header passes unless require is set:
// ingest reached directly (its internal address, the CLI) trusts the
// parties a message declares.
func checkParties(h http.Header, d Delivery, require bool) error {
	var (
		msg release.Message
		src map[string]string
	)
	switch {
	case d.Release != nil:
		msg, src = d.Release.Message, d.Release.Source
	case d.Purge != nil:
		msg, src = d.Purge.Message, d.Purge.Source
	default:
		return nil
	}
	field := func(f string) string {
		if p, ok := src[f]; ok && p != "" {
			return p
		}
		return f
	}
	values := h.Values(PartiesHeader)
	if len(values) == 0 {
		if require {
			return &PartyError{Message: msg, Field: field("sender")}
		}
		return nil
	}
	allowed := []string{}
	for _, v := range values {
		for _, p := range strings.Split(v, ",") {
			if p = strings.TrimSpace(p); p == AnyParty {
				return nil
			} else if p != "" {
				allowed = append(allowed, p)
			}
		}
	}
	if !slices.Contains(allowed, msg.Sender) {
		return &PartyError{Message: msg, Field: field("sender"), Party: msg.Sender, Allowed: allowed}
	}
	if msg.OnBehalfOf != "" && !slices.Contains(allowed, msg.OnBehalfOf) {
		return &PartyError{Message: msg, Field: field("sentOnBehalfOf"), Party: msg.OnBehalfOf, Allowed: allowed}
	}
	return nil
}
