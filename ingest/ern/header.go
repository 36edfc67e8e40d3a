package ern

import (
	"fmt"
	"time"

	"github.com/catalog-org/catalog/domain/release"
)

// readHeader reads MessageHeader (same shape in every ERN version) into a
// release.Message, with a problem for every required part that is missing
// or unreadable. The Message holds whatever could be read. The map gives
// the element paths of the header fields ingest checks ("sender",
// "recipient", "messageCreated", "messageId", "sentOnBehalfOf"), for its
// problems to name.
func readHeader(root *element) (release.Message, map[string]string, problems) {
	var msg release.Message
	var ps problems
	h := root.first("MessageHeader")
	src := map[string]string{
		"sender":         root.loc() + "/MessageHeader/MessageSender/PartyId",
		"recipient":      root.loc() + "/MessageHeader/MessageRecipient/PartyId",
		"messageCreated": root.loc() + "/MessageHeader/MessageCreatedDateTime",
		"messageId":      root.loc() + "/MessageHeader/MessageId",
		"sentOnBehalfOf": root.loc() + "/MessageHeader/SentOnBehalfOf/PartyId",
	}
	if h == nil {
		ps.add(root.pathTo("MessageHeader"), "is missing; every ERN message has a MessageHeader")
		return msg, src, ps
	}

	if id := h.first("MessageId"); id == nil {
		ps.add(h.pathTo("MessageId"), "is missing; the sender's message id names the delivery")
	} else if id.value() == "" {
		ps.add(id.loc(), "is empty; the sender's message id names the delivery")
	} else {
		msg.ID = id.value()
	}

	if s := h.first("MessageSender"); s == nil {
		ps.add(h.pathTo("MessageSender"), "is missing; every ERN message names its sender")
	} else {
		msg.Sender = senderName(s)
		if msg.Sender == "" {
			ps.add(s.pathTo("PartyId"), "is missing or empty, and so is PartyName/FullName; the sender must be named by one of them")
		}
	}

	if c := h.first("MessageCreatedDateTime"); c == nil {
		ps.add(h.pathTo("MessageCreatedDateTime"), "is missing; it orders the messages about a release")
	} else if t, reason := parseCreated(c.value()); reason != "" {
		ps.add(c.loc(), "%s", reason)
	} else {
		msg.Created = t
	}

	// The party a distributor delivers for (usually the label); it owns
	// the releases it is named on as much as the sender does.
	if b := h.first("SentOnBehalfOf"); b != nil {
		msg.OnBehalfOf = senderName(b)
	}
	// MessageRecipient is 1..n, each with PartyIds (real feeds leave them
	// empty: <PartyId IsDPID="true"/>); ingest checks the non-empty ones.
	for _, r := range h.all("MessageRecipient") {
		for _, id := range r.all("PartyId") {
			if v := id.value(); v != "" {
				msg.Recipients = append(msg.Recipients, v)
			}
		}
	}

	msg.Test = h.first("MessageControlType").value() == "TestMessage"
	return msg, src, ps
}

// senderName is the first non-empty PartyId of a party (MessageSender,
// SentOnBehalfOf), else its first non-empty PartyName/FullName.
func senderName(s *element) string {
	for _, id := range s.all("PartyId") {
		if id.value() != "" {
			return id.value()
		}
	}
	for _, n := range s.findAll("PartyName", "FullName") {
		if n.value() != "" {
			return n.value()
		}
	}
	return ""
}

// parseCreated reads an xs:dateTime that must carry a time zone (Z or an
// offset); fractional seconds are allowed. It returns a reason when s is not
// acceptable.
func parseCreated(s string) (time.Time, string) {
	if s == "" {
		return time.Time{}, "is empty; it must be a date-time with a time zone, e.g. 2024-04-02T07:00:00Z"
	}
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return t, ""
	}
	if _, err := time.Parse("2006-01-02T15:04:05.999999999", s); err == nil {
		return time.Time{}, fmt.Sprintf("has no time zone: %s must end in Z or an offset such as +01:00", release.Quote(s))
	}
	return time.Time{}, fmt.Sprintf("%s is not a date-time with a time zone, e.g. 2024-04-02T07:00:00Z", release.Quote(s))
}
