package events

import (
	"encoding/json"
	"fmt"
	"reflect"
	"sort"

	"github.com/catalog-org/catalog/domain/release"
)

// Payload is a decoded event payload at its type's current schema version:
// a value of a domain package's sealed payload type (e.g. release.Payload).
type Payload interface {
	// EventType returns the payload's ce_type.
	EventType() string
}

// Type is one registered event type.
type Type struct {
	// Name is the ce_type.
	Name string
	// Version is the current schema version of the payload.
	Version int
	// New returns a pointer to a zero payload to decode into; the value it
	// points to implements Payload.
	New func() any
	// Upcasters maps schema version N to the upcaster from N to N+1.
	Upcasters map[int]Upcaster
}

// Registry holds the event types: their current schema versions,
// constructors and upcasters. Decoding through it is generic: a new event
// type is one registration, not a switch in each consumer.
type Registry struct {
	types map[string]Type
}

// registry is the one registry of catalog's event types, filled by the
// domain packages' lists of their types (domain imports nothing of ours,
// so the registration is here).
var registry = mustRegistry(releaseTypes()...)

func releaseTypes() []Type {
	var out []Type
	for _, t := range release.EventTypes() {
		ups := map[int]Upcaster{}
		for v, f := range t.Upcasters {
			ups[v] = f
		}
		out = append(out, Type{Name: t.Name, Version: t.Version, New: t.New, Upcasters: ups})
	}
	return out
}

// NewRegistry builds a registry of types. Each type must have a name, a
// version of at least 1, a constructor whose value implements Payload and
// reports the type's name, and an upcaster from every older version; a
// name registered twice is an error.
func NewRegistry(types ...Type) (*Registry, error) {
	r := &Registry{types: map[string]Type{}}
	for _, t := range types {
		if t.Name == "" || t.Version < 1 || t.New == nil {
			return nil, fmt.Errorf("event type %q: a name, a version of at least 1 and a constructor are required", t.Name)
		}
		if _, dup := r.types[t.Name]; dup {
			return nil, fmt.Errorf("event type %q is registered twice", t.Name)
		}
		p, ok := reflect.ValueOf(t.New()).Elem().Interface().(Payload)
		if !ok || p.EventType() != t.Name {
			return nil, fmt.Errorf("event type %q: its constructor does not make a payload of that type", t.Name)
		}
		for v := 1; v < t.Version; v++ {
			if t.Upcasters[v] == nil {
				return nil, fmt.Errorf("event type %q: no upcaster from version %d", t.Name, v)
			}
		}
		r.types[t.Name] = t
	}
	return r, nil
}

func mustRegistry(types ...Type) *Registry {
	r, err := NewRegistry(types...)
	if err != nil {
		panic(err) // the domain's own list is wrong: a programming error caught by any test
	}
	return r
}

// Types returns the registered event types, by name.
func Types() []Type { return registry.Types() }

// Types returns the registry's event types, by name.
func (r *Registry) Types() []Type {
	out := make([]Type, 0, len(r.types))
	for _, t := range r.types {
		out = append(out, t)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

func (r *Registry) upcast(e Envelope) (Envelope, error) {
	t, known := r.types[e.Type]
	if !known {
		return e, nil
	}
	if e.SchemaVersion > t.Version {
		return e, fmt.Errorf("%w: %s schema version %d is newer than this consumer's %d", ErrMalformed, e.Type, e.SchemaVersion, t.Version)
	}
	for e.SchemaVersion < t.Version {
		up, ok := t.Upcasters[e.SchemaVersion]
		if !ok {
			return e, fmt.Errorf("%w: no upcaster for %s version %d", ErrMalformed, e.Type, e.SchemaVersion)
		}
		data, err := up(e.Data)
		if err != nil {
			return e, fmt.Errorf("%w: upcast %s v%d: %w", ErrMalformed, e.Type, e.SchemaVersion, err)
		}
		e.Data, e.SchemaVersion = data, e.SchemaVersion+1
	}
	return e, nil
}

// DecodePayload reads e's payload, upcast to its type's current schema
// version, into the registered payload type. ok is false for a type the
// registry does not know (a newer producer's; consumers pass it over). A
// payload that does not decode is ErrMalformed.
func DecodePayload(e Envelope) (env Envelope, p Payload, ok bool, err error) {
	return registry.DecodePayload(e)
}

// DecodePayload is the package-level DecodePayload on r.
func (r *Registry) DecodePayload(e Envelope) (Envelope, Payload, bool, error) {
	t, known := r.types[e.Type]
	if !known {
		return e, nil, false, nil
	}
	e, err := r.upcast(e)
	if err != nil {
		return e, nil, true, err
	}
	ptr, err := decodePayload(e.Data, t)
	if err != nil {
		return e, nil, true, fmt.Errorf("%w: decode %s: %w", ErrMalformed, e.Type, err)
	}
	return e, reflect.ValueOf(ptr).Elem().Interface().(Payload), true, nil
}

// DecodeRecord decodes a record's envelope and payload (DecodePayload),
// reporting what Decode and DecodePayload in turn would.
func DecodeRecord(rec Record) (Envelope, Payload, bool, error) {
	return registry.DecodeRecord(rec)
}

// DecodeRecord is the package-level DecodeRecord on r. A record of a
// current-version type is scanned once, by the payload decoder, which
// rejects what is not JSON as Decode's own check would; the value is
// checked separately (Decode's error, as before) only when that decoder
// fails, or before an upcaster or a pass-over of an unknown type reads it.
func (r *Registry) DecodeRecord(rec Record) (Envelope, Payload, bool, error) {
	notJSON := func() (Envelope, Payload, bool, error) {
		env, err := Decode(rec.Headers, rec.Value)
		return env, nil, false, err
	}
	env, err := decode(rec.Headers, rec.Value, false)
	if err != nil {
		return notJSON()
	}
	if t, known := r.types[env.Type]; !known || env.SchemaVersion != t.Version {
		if !json.Valid(rec.Value) {
			return notJSON()
		}
		return r.DecodePayload(env)
	}
	env, p, ok, err := r.DecodePayload(env)
	if err != nil && !json.Valid(rec.Value) {
		return notJSON()
	}
	return env, p, ok, err
}
