package events_test

import (
	"bytes"
	"encoding"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/santhosh-tekuri/jsonschema/v6"

	"github.com/catalog-org/catalog/domain/release"
)

// The published JSON Schemas of the event payloads (docs/events), one file
// per event type and schema version: <type>.v<N>.schema.json, with $id
// schemaBaseURL + the file name.
const (
	schemaDir     = "../docs/events"
	schemaBaseURL = "https://catalog.example/schemas/events/"
	schemaDialect = "https://json-schema.org/draft/2020-12/schema"
)

// payloadTypes gives the Go payload type of every event type at its current
// schema version (release.SchemaVersions). A new event type must be added
// here, and its schema written, or TestSchemaFilesExist fails.
var payloadTypes = map[string]reflect.Type{
	release.TypeDelivered:       reflect.TypeFor[release.Delivered](),
	release.TypeMetadataChanged: reflect.TypeFor[release.MetadataChanged](),
	release.TypeTracksChanged:   reflect.TypeFor[release.TracksChanged](),
	release.TypeDealsReplaced:   reflect.TypeFor[release.DealsReplaced](),
	release.TypeTakenDown:       reflect.TypeFor[release.TakenDown](),
	release.TypePurged:          reflect.TypeFor[release.Purged](),
	release.TypeOwnersChanged:   reflect.TypeFor[release.OwnersChanged](),
}

// olderPayloadTypes gives the Go shape of superseded schema versions that
// are still in the log (Kafka events are never rewritten; consumers read
// them through upcasters), so their schemas stay checked too.
var olderPayloadTypes = map[schemaKey]reflect.Type{
	{release.TypeDelivered, 1}: reflect.TypeFor[deliveredV1](),
	{release.TypeDelivered, 2}: reflect.TypeFor[deliveredV2](),
}

// deliveredV2 is version 2 of catalog.release.delivered: version 3 without
// the owners.
type deliveredV2 struct {
	ReleaseID int64 `json:"releaseId"`
	release.Metadata
	ArtistID int64               `json:"artistId"`
	Tracks   []release.TrackInfo `json:"tracks"`
	Deals    []release.Deal      `json:"deals"`
}

// deliveredV1 is version 1 of catalog.release.delivered as it was produced:
// availability as download and streaming start dates per territory.
type deliveredV1 struct {
	ReleaseID    int64            `json:"releaseId"`
	UPC          string           `json:"upc"`
	Title        string           `json:"title"`
	Artist       artistV1         `json:"artist"`
	Label        string           `json:"label"`
	Tracks       []trackV1        `json:"tracks"`
	Availability []availabilityV1 `json:"availability"`
}

type artistV1 struct {
	ID   int64  `json:"id"`
	Name string `json:"name"`
}

type trackV1 struct {
	TrackID         int64    `json:"trackId"`
	ISRC            string   `json:"isrc"`
	Title           string   `json:"title"`
	Artist          artistV1 `json:"artist"`
	DurationSeconds int      `json:"durationSeconds"`
	Disc            int      `json:"disc"`
	Number          int      `json:"number"`
}

type availabilityV1 struct {
	Territory     string     `json:"territory"`
	DownloadFrom  *time.Time `json:"downloadFrom,omitempty"`
	StreamingFrom *time.Time `json:"streamingFrom,omitempty"`
}

// schemaKey names one schema: an event type at one schema version.
type schemaKey struct {
	typ     string
	version int
}

func (k schemaKey) file() string { return fmt.Sprintf("%s.v%d.schema.json", k.typ, k.version) }

// checkedSchemas returns every schema whose Go shape is known, in file name
// order: each type at its current version, plus the older versions above.
func checkedSchemas(t *testing.T) []schemaKey {
	t.Helper()
	var keys []schemaKey
	for typ, v := range release.SchemaVersions {
		if _, ok := payloadTypes[typ]; !ok {
			t.Errorf("event type %s has no payload type in payloadTypes (events/schemas_test.go): add it", typ)
			continue
		}
		keys = append(keys, schemaKey{typ, v})
	}
	for k := range olderPayloadTypes {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, func(a, b schemaKey) int { return strings.Compare(a.file(), b.file()) })
	return slices.Compact(keys)
}

func goTypeOf(k schemaKey) reflect.Type {
	if release.SchemaVersions[k.typ] == k.version {
		return payloadTypes[k.typ]
	}
	return olderPayloadTypes[k]
}

// readSchema reads a schema file as generic JSON.
func readSchema(t *testing.T, file string) map[string]any {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(schemaDir, file))
	if err != nil {
		t.Fatalf("read schema: %v", err)
	}
	var doc map[string]any
	if err := json.Unmarshal(b, &doc); err != nil {
		t.Fatalf("%s is not a JSON object: %v", file, err)
	}
	return doc
}

// schemaFiles lists every *.schema.json file in schemaDir.
func schemaFiles(t *testing.T) []string {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(schemaDir, "*.schema.json"))
	if err != nil {
		t.Fatal(err)
	}
	if len(files) == 0 {
		t.Fatalf("no *.schema.json files in %s", schemaDir)
	}
	for i, f := range files {
		files[i] = filepath.Base(f)
	}
	return files
}

// compileSchemas compiles every schema file with a JSON Schema 2020-12
// validator that asserts formats (date-time), keyed by file name. Compiling
// also validates each schema against the 2020-12 meta-schema.
func compileSchemas(t *testing.T) map[string]*jsonschema.Schema {
	t.Helper()
	c := jsonschema.NewCompiler()
	c.DefaultDraft(jsonschema.Draft2020)
	c.AssertFormat()
	files := schemaFiles(t)
	for _, name := range files {
		f, err := os.Open(filepath.Join(schemaDir, name))
		if err != nil {
			t.Fatal(err)
		}
		doc, err := jsonschema.UnmarshalJSON(f)
		f.Close()
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if err := c.AddResource(schemaBaseURL+name, doc); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
	}
	out := map[string]*jsonschema.Schema{}
	for _, name := range files {
		s, err := c.Compile(schemaBaseURL + name)
		if err != nil {
			t.Errorf("%s does not compile: %v", name, err)
			continue
		}
		out[name] = s
	}
	return out
}

// TestSchemaFilesExist checks that every event type has a schema file for
// its current schema version (and that the test knows its Go payload type).
func TestSchemaFilesExist(t *testing.T) {
	t.Parallel()
	for typ, v := range release.SchemaVersions {
		name := schemaKey{typ, v}.file()
		if _, err := os.Stat(filepath.Join(schemaDir, name)); err != nil {
			t.Errorf("event type %s is at schema version %d but its schema is missing: %v", typ, v, err)
		}
		if _, ok := payloadTypes[typ]; !ok {
			t.Errorf("event type %s has no payload type in payloadTypes (events/schemas_test.go): add it", typ)
		}
	}
	for k := range olderPayloadTypes {
		if _, err := os.Stat(filepath.Join(schemaDir, k.file())); err != nil {
			t.Errorf("schema of superseded %s version %d is missing: %v", k.typ, k.version, err)
		}
	}
}

// TestSchemaFilesWellFormed checks the header of every schema file ($schema,
// $id, title, description, a closed object), that it compiles (it is a
// valid 2020-12 schema), and that it is indented the canonical way (two
// spaces, as json.Indent writes it, final newline) so diffs stay small.
func TestSchemaFilesWellFormed(t *testing.T) {
	t.Parallel()
	compileSchemas(t)
	for _, name := range schemaFiles(t) {
		doc := readSchema(t, name)
		for key, want := range map[string]any{"$schema": schemaDialect, "$id": schemaBaseURL + name, "type": "object", "additionalProperties": false} {
			if doc[key] != want {
				t.Errorf("%s: %s is %v, want %v", name, key, doc[key], want)
			}
		}
		for _, key := range []string{"title", "description"} {
			if s, _ := doc[key].(string); strings.TrimSpace(s) == "" {
				t.Errorf("%s: %s is missing or empty", name, key)
			}
		}
		raw, err := os.ReadFile(filepath.Join(schemaDir, name))
		if err != nil {
			t.Fatal(err)
		}
		var compact, indented bytes.Buffer
		if err := json.Compact(&compact, raw); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if err := json.Indent(&indented, compact.Bytes(), "", "  "); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		indented.WriteByte('\n')
		if !bytes.Equal(raw, indented.Bytes()) {
			t.Errorf("%s is not indented canonically (2 spaces, one key per line, final newline)", name)
		}
	}
}

// TestSchemasMatchGoTypes walks each Go payload type the way encoding/json
// marshals it (json tags, omitempty/omitzero, embedded structs flattened)
// and checks the schema has exactly its properties, requires exactly the
// fields that are always marshalled, and gives each the JSON type the Go
// field marshals to, recursively into arrays and objects.
func TestSchemasMatchGoTypes(t *testing.T) {
	t.Parallel()
	for _, k := range checkedSchemas(t) {
		t.Run(k.file(), func(t *testing.T) {
			t.Parallel()
			gt := goTypeOf(k)
			c := schemaChecker{file: k.file(), root: readSchema(t, k.file()), report: func(msg string) { t.Error(msg) }}
			c.compare(c.root, gt, "$", gt.String())
		})
	}
}

// TestSchemaCheckCatchesDrift makes sure the check above fails, naming the
// field, when a payload type gains, renames or retypes a field, or drops an
// omitempty, without its schema changing.
func TestSchemaCheckCatchesDrift(t *testing.T) {
	t.Parallel()
	type purgedAdded struct {
		release.Purged
		Reason string `json:"reason"`
	}
	type purgedRenamed struct {
		ReleaseID int64  `json:"releaseID"`
		UPC       string `json:"upc,omitempty"`
		GRid      string `json:"grid,omitempty"`
	}
	type purgedRetyped struct {
		ReleaseID string `json:"releaseId"`
		UPC       string `json:"upc,omitempty"`
		GRid      string `json:"grid,omitempty"`
	}
	type purgedRequired struct {
		ReleaseID int64  `json:"releaseId"`
		UPC       string `json:"upc"`
		GRid      string `json:"grid,omitempty"`
	}
	type dealAdded struct {
		release.Deal
		Priority int `json:"priority"`
	}
	type dealsReplacedNested struct {
		ReleaseID int64       `json:"releaseId"`
		Deals     []dealAdded `json:"deals"`
	}
	type trackRetyped struct {
		release.TrackInfo
		Disc string `json:"disc"`
	}
	type tracksChangedNested struct {
		ReleaseID   int64          `json:"releaseId"`
		Added       []string       `json:"added,omitempty"`
		Removed     []string       `json:"removed,omitempty"`
		Resequenced bool           `json:"resequenced,omitempty"`
		Tracks      []trackRetyped `json:"tracks"`
	}
	purged := schemaKey{release.TypePurged, 1}.file()
	for _, tc := range []struct {
		file string
		typ  reflect.Type
		want []string
	}{
		{purged, reflect.TypeFor[purgedAdded](), []string{"$.reason", "Reason"}},
		{purged, reflect.TypeFor[purgedRenamed](), []string{"$.releaseID", "$.releaseId"}},
		{purged, reflect.TypeFor[purgedRetyped](), []string{"$.releaseId", `"integer"`, `"string"`}},
		{purged, reflect.TypeFor[purgedRequired](), []string{"$.upc", "required"}},
		{schemaKey{release.TypeDealsReplaced, 1}.file(), reflect.TypeFor[dealsReplacedNested](), []string{"$.deals[].priority", "Priority"}},
		{schemaKey{release.TypeTracksChanged, 1}.file(), reflect.TypeFor[tracksChangedNested](), []string{"$.tracks[].disc", "Disc"}},
	} {
		var got []string
		c := schemaChecker{file: tc.file, root: readSchema(t, tc.file), report: func(msg string) { got = append(got, msg) }}
		c.compare(c.root, tc.typ, "$", tc.typ.String())
		all := strings.Join(got, "\n")
		if len(got) == 0 {
			t.Errorf("%s against %s: no mismatch reported", tc.typ, tc.file)
		}
		for _, w := range tc.want {
			if !strings.Contains(all, w) {
				t.Errorf("%s against %s: report does not mention %s:\n%s", tc.typ, tc.file, w, all)
			}
		}
	}
}

// schemaChecker compares a Go type with a schema document, reporting each
// mismatch with the JSON path ($.tracks[].isrc) and Go field it concerns.
type schemaChecker struct {
	file   string
	root   map[string]any
	report func(string)
}

func (c *schemaChecker) errorf(format string, args ...any) {
	c.report(c.file + ": " + fmt.Sprintf(format, args...))
}

// resolve follows local references (#/$defs/name) to the schema they name.
func (c *schemaChecker) resolve(node map[string]any, at string) (map[string]any, bool) {
	for range 16 {
		ref, ok := node["$ref"].(string)
		if !ok {
			return node, true
		}
		defs, _ := c.root["$defs"].(map[string]any)
		name, local := strings.CutPrefix(ref, "#/$defs/")
		target, found := defs[name].(map[string]any)
		if !local || !found {
			c.errorf("%s: $ref %q does not name a schema in this file's $defs", at, ref)
			return nil, false
		}
		node = target
	}
	c.errorf("%s: $ref chain too long (a cycle?)", at)
	return nil, false
}

var (
	timeType          = reflect.TypeFor[time.Time]()
	jsonMarshalerType = reflect.TypeFor[json.Marshaler]()
	textMarshalerType = reflect.TypeFor[encoding.TextMarshaler]()
)

// jsonType returns the JSON type encoding/json marshals a value of type t
// to, or "" for a type this check does not know (a custom MarshalJSON).
// Pointers are followed: nil pointers are only ever optional here.
func jsonType(t reflect.Type) string {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch {
	case t == timeType:
		return "string"
	case t.Implements(jsonMarshalerType) || reflect.PointerTo(t).Implements(jsonMarshalerType):
		return ""
	case t.Implements(textMarshalerType) || reflect.PointerTo(t).Implements(textMarshalerType):
		return "string"
	}
	switch t.Kind() {
	case reflect.String:
		return "string"
	case reflect.Bool:
		return "boolean"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return "integer"
	case reflect.Float32, reflect.Float64:
		return "number"
	case reflect.Slice:
		if t.Elem().Kind() == reflect.Uint8 {
			return "string" // base64
		}
		return "array"
	case reflect.Array:
		return "array"
	case reflect.Struct:
		return "object"
	}
	return ""
}

// compare checks that node (a schema) describes values of Go type t;
// jsonPath and goPath name the place for messages.
func (c *schemaChecker) compare(node map[string]any, t reflect.Type, jsonPath, goPath string) {
	n, ok := c.resolve(node, jsonPath)
	if !ok {
		return
	}
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	want := jsonType(t)
	if want == "" {
		c.errorf("%s (Go %s, type %s): this test does not know what JSON type %s marshals to; teach jsonType", jsonPath, goPath, t, t)
		return
	}
	got, _ := n["type"].(string)
	if got != want {
		c.errorf("%s (Go %s): schema type is %q but Go type %s marshals to %q", jsonPath, goPath, got, t, want)
		return
	}
	switch {
	case t == timeType:
		if n["format"] != "date-time" {
			c.errorf("%s (Go %s): a time.Time needs format date-time, schema has %v", jsonPath, goPath, n["format"])
		}
	case want == "array":
		items, ok := n["items"].(map[string]any)
		if !ok {
			c.errorf("%s (Go %s): array schema has no items schema", jsonPath, goPath)
			return
		}
		c.compare(items, t.Elem(), jsonPath+"[]", goPath+"[]")
	case want == "object":
		c.compareObject(n, t, jsonPath, goPath)
	}
}

func (c *schemaChecker) compareObject(n map[string]any, t reflect.Type, jsonPath, goPath string) {
	if n["additionalProperties"] != false {
		c.errorf("%s (Go %s): object schema must set additionalProperties: false", jsonPath, goPath)
	}
	props, _ := n["properties"].(map[string]any)
	required := map[string]bool{}
	reqList, _ := n["required"].([]any)
	for _, r := range reqList {
		name, _ := r.(string)
		required[name] = true
		if _, ok := props[name]; !ok {
			c.errorf("%s: required property %q is not among the schema's properties", jsonPath, name)
		}
	}
	fields := jsonFields(t)
	inGo := map[string]bool{}
	for _, f := range fields {
		inGo[f.name] = true
		path, fieldPath := jsonPath+"."+f.name, goPath+"."+f.goName
		p, ok := props[f.name].(map[string]any)
		if !ok {
			c.errorf("%s: Go field %s (%s) is not in the schema; add property %q", path, fieldPath, f.typ, f.name)
			continue
		}
		if !hasDescription(c, p, path) {
			c.errorf("%s: schema property has no description", path)
		}
		switch {
		case f.optional && required[f.name]:
			c.errorf("%s: Go field %s may be omitted (omitempty/omitzero) but the schema lists it as required", path, fieldPath)
		case !f.optional && !required[f.name]:
			c.errorf("%s: Go field %s is always marshalled (no omitempty) but the schema does not list it as required", path, fieldPath)
		}
		c.compare(p, f.typ, path, fieldPath)
	}
	for _, name := range sortedKeys(props) {
		if !inGo[name] {
			c.errorf("%s.%s: schema property has no Go field in %s (json name %q)", jsonPath, name, t, name)
		}
	}
}

// hasDescription reports whether a property schema, or the schema its $ref
// names, has a description.
func hasDescription(c *schemaChecker, p map[string]any, at string) bool {
	if s, _ := p["description"].(string); strings.TrimSpace(s) != "" {
		return true
	}
	r, ok := c.resolve(p, at)
	if !ok {
		return true // already reported
	}
	s, _ := r["description"].(string)
	return strings.TrimSpace(s) != ""
}

func sortedKeys(m map[string]any) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// jsonField is one JSON member of a struct as encoding/json marshals it.
type jsonField struct {
	name     string       // JSON name
	goName   string       // Go field path from the struct, e.g. Metadata.UPC
	typ      reflect.Type // Go type (with ",string" applied by the caller)
	optional bool         // may be left out of the JSON
	depth    int          // embedding depth
	tagged   bool         // named by a json tag
}

// jsonFields lists the JSON members of struct type t in field order,
// following encoding/json: unexported and json:"-" fields skipped, untagged
// embedded structs flattened (shallower fields, then tagged ones, win a
// name; an unresolved tie drops the name), ",string" ints and bools as
// strings, omitempty (which never omits a struct) and omitzero.
func jsonFields(t reflect.Type) []jsonField {
	var all []jsonField
	var walk func(t reflect.Type, prefix string, depth int)
	walk = func(t reflect.Type, prefix string, depth int) {
		for i := range t.NumField() {
			sf := t.Field(i)
			tag := sf.Tag.Get("json")
			if tag == "-" {
				continue
			}
			name, opts, _ := strings.Cut(tag, ",")
			ft := sf.Type
			if sf.Anonymous {
				et := ft
				if et.Kind() == reflect.Pointer {
					et = et.Elem()
				}
				if !sf.IsExported() && et.Kind() != reflect.Struct {
					continue
				}
				if name == "" && et.Kind() == reflect.Struct {
					walk(et, prefix+sf.Name+".", depth+1)
					continue
				}
			} else if !sf.IsExported() {
				continue
			}
			tagged := name != ""
			if !tagged {
				name = sf.Name
			}
			options := strings.Split(opts, ",")
			if slices.Contains(options, "string") {
				switch ft.Kind() {
				case reflect.Bool, reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
					reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Float32, reflect.Float64:
					ft = reflect.TypeFor[string]()
				}
			}
			optional := slices.Contains(options, "omitzero") ||
				slices.Contains(options, "omitempty") && omitemptyCanOmit(sf.Type)
			all = append(all, jsonField{name: name, goName: prefix + sf.Name, typ: ft, optional: optional, depth: depth, tagged: tagged})
		}
	}
	walk(t, "", 0)

	var out []jsonField
	seen := map[string]bool{}
	for _, f := range all {
		if seen[f.name] {
			continue
		}
		seen[f.name] = true
		var best []jsonField
		for _, g := range all {
			if g.name != f.name {
				continue
			}
			if len(best) == 0 || g.depth < best[0].depth {
				best = []jsonField{g}
			} else if g.depth == best[0].depth {
				best = append(best, g)
			}
		}
		if len(best) > 1 {
			var tagged []jsonField
			for _, g := range best {
				if g.tagged {
					tagged = append(tagged, g)
				}
			}
			best = tagged
		}
		if len(best) == 1 {
			out = append(out, best[0])
		}
	}
	return out
}

// omitemptyCanOmit reports whether omitempty can leave a value of type t
// out: it never omits a struct, nor an array of non-zero length.
func omitemptyCanOmit(t reflect.Type) bool {
	switch t.Kind() {
	case reflect.Struct:
		return false
	case reflect.Array:
		return t.Len() == 0
	}
	return true
}

// example is a realistic payload of one schema.
type example struct {
	name  string
	key   schemaKey
	value any
}

func examples() []example {
	at := func(s string) *time.Time {
		v, err := time.Parse(time.RFC3339, s)
		if err != nil {
			panic(err)
		}
		return &v
	}
	artists := []release.Credit{{Name: "The Dandy Warhols", Role: "MainArtist"}, {Name: "Courtney Taylor-Taylor"}}
	metadata := release.Metadata{
		UPC: "00724349501058", GRid: "A10302B0001234567A", CatalogNumber: "CDEST 2296",
		Title: "...The Dandy Warhols Come Down", Version: "Remastered", Type: "Album", Label: "Capitol",
		Artist: "The Dandy Warhols", Artists: artists, PLine: "℗ 1997 Capitol Records", CLine: "© 1997 Capitol Records",
		Genre: "Alternative", ParentalWarning: "NotExplicit", ReleaseDate: "1997-07-15", OriginalReleaseDate: "1997",
	}
	tracks := []release.TrackInfo{
		{TrackID: 11, ISRC: "USCA29600191", Title: "Not If You Were the Last Junkie on Earth", Version: "Album Version",
			Artist: "The Dandy Warhols", ArtistID: 3, Artists: artists[:1], DurationSeconds: 192, Disc: 1, Number: 4,
			PLine: "℗ 1997 Capitol Records", ParentalWarning: "Explicit"},
		{TrackID: 12, ISRC: "USCA29600192", Title: "I Love You", Artist: "The Dandy Warhols", ArtistID: 3,
			DurationSeconds: 252, Disc: 1, Number: 5},
	}
	deals := []release.Deal{
		{Territories: []string{"GB", "IE"}, UseTypes: []string{"OnDemandStream"}, CommercialModels: []string{"SubscriptionModel"},
			Start: at("1997-07-10T00:00:00Z")},
		{Track: "USCA29600192", ExcludedTerritories: []string{"US"}, UseTypes: []string{"PermanentDownload"},
			CommercialModels: []string{"PayAsYouGoModel"}, Start: at("1997-07-03T00:00:00Z"), End: at("2030-01-01T00:00:00+01:00"),
			Price: &release.Price{Amount: "0.99", Currency: "GBP", Code: "FRONTLINE"}},
		{Territories: []string{release.Worldwide}, UseTypes: []string{"Stream"}, CommercialModels: []string{"AdvertisementSupportedModel"}},
	}
	takedown := []release.Deal{{Territories: []string{"FR"}, TakeDown: true}, deals[0]}

	var v1 deliveredV1
	v1.ReleaseID, v1.UPC, v1.Title, v1.Label = 1, "00724349501058", "...The Dandy Warhols Come Down", "Capitol"
	v1.Artist = artistV1{ID: 3, Name: "The Dandy Warhols"}
	v1.Tracks = []trackV1{{TrackID: 12, ISRC: "USCA29600192", Title: "I Love You", Artist: v1.Artist, DurationSeconds: 252, Disc: 1, Number: 5}}
	v1.Availability = []availabilityV1{
		{Territory: "GB", DownloadFrom: at("1997-07-03T00:00:00Z"), StreamingFrom: at("1997-07-10T00:00:00Z")},
		{Territory: "US", DownloadFrom: at("1997-07-03T00:00:00Z")},
	}

	cur := func(typ string) schemaKey { return schemaKey{typ, release.SchemaVersions[typ]} }
	return []example{
		{"full", cur(release.TypeDelivered), release.Delivered{ReleaseID: 1, Metadata: metadata, ArtistID: 3, Tracks: tracks, Deals: deals,
			Owners: []string{"PADPIDA2014072901K", "PADPIDA2007040502I"}}},
		{"full", schemaKey{release.TypeDelivered, 2}, deliveredV2{ReleaseID: 1, Metadata: metadata, ArtistID: 3, Tracks: tracks, Deals: deals}},
		{"full", cur(release.TypeOwnersChanged), release.OwnersChanged{ReleaseID: 1, Owners: []string{"PADPIDA0000000NEW"}}},
		{"minimal", cur(release.TypeDelivered), release.Delivered{ReleaseID: 2,
			Metadata: release.Metadata{GRid: "A10302B0001234568B", Title: "Single", Artist: "Someone"}, ArtistID: 4,
			Tracks: []release.TrackInfo{{TrackID: 20, ISRC: "GBAYE0601498", Title: "Single", Artist: "Someone", ArtistID: 4,
				DurationSeconds: 1, Disc: 1, Number: 1}}, Deals: []release.Deal{}}},
		{"full", cur(release.TypeMetadataChanged), release.MetadataChanged{ReleaseID: 1, Metadata: metadata, ArtistID: 3}},
		{"full", cur(release.TypeTracksChanged), release.TracksChanged{ReleaseID: 1, Added: []string{"USCA29600192"},
			Removed: []string{"USCA29600193"}, Resequenced: true, Tracks: tracks}},
		{"edited", cur(release.TypeTracksChanged), release.TracksChanged{ReleaseID: 1, Tracks: tracks[:1]}},
		{"full", cur(release.TypeDealsReplaced), release.DealsReplaced{ReleaseID: 1, Deals: deals}},
		{"territories", cur(release.TypeTakenDown), release.TakenDown{ReleaseID: 1, Territories: []string{"FR"}, Deals: takedown}},
		{"everywhere", cur(release.TypeTakenDown), release.TakenDown{ReleaseID: 1, Deals: []release.Deal{}}},
		{"full", cur(release.TypePurged), release.Purged{ReleaseID: 1, UPC: "00724349501058", GRid: "A10302B0001234567A"}},
		{"grid only", cur(release.TypePurged), release.Purged{ReleaseID: 2, GRid: "A10302B0001234568B"}},
		{"full", schemaKey{release.TypeDelivered, 1}, v1},
	}
}

// TestSchemaExamplesValidate marshals realistic payloads of every type (and
// of delivered v1) with encoding/json and validates them against their
// schemas.
func TestSchemaExamplesValidate(t *testing.T) {
	t.Parallel()
	schemas := compileSchemas(t)
	covered := map[schemaKey]bool{}
	for _, ex := range examples() {
		covered[ex.key] = true
		if want := goTypeOf(ex.key); reflect.TypeOf(ex.value) != want {
			t.Errorf("%s example %q is a %T, want %s", ex.key.file(), ex.name, ex.value, want)
		}
		b, err := json.Marshal(ex.value)
		if err != nil {
			t.Fatal(err)
		}
		if err := validate(schemas, ex.key.file(), b); err != nil {
			t.Errorf("%s example %q is rejected: %v\npayload: %s", ex.key.file(), ex.name, err, b)
		}
	}
	for _, k := range checkedSchemas(t) {
		if !covered[k] {
			t.Errorf("%s has no example payload in examples()", k.file())
		}
	}
}

// validate validates a JSON payload against the named schema.
func validate(schemas map[string]*jsonschema.Schema, file string, payload []byte) error {
	s, ok := schemas[file]
	if !ok {
		return fmt.Errorf("no compiled schema %s", file)
	}
	inst, err := jsonschema.UnmarshalJSON(bytes.NewReader(payload))
	if err != nil {
		return err
	}
	return s.Validate(inst)
}

// TestSchemaRejectsInvalidPayloads checks that the schemas reject bad
// identifiers, unknown properties, missing required properties, wrong types
// and bad dates, each for the right reason at the right place.
func TestSchemaRejectsInvalidPayloads(t *testing.T) {
	t.Parallel()
	schemas := compileSchemas(t)
	exs := map[schemaKey]map[string]any{}
	for _, ex := range examples() {
		if _, ok := exs[ex.key]; !ok { // the first, fullest example of each schema
			exs[ex.key] = toMap(t, ex.value)
		}
	}
	delivered := schemaKey{release.TypeDelivered, release.SchemaVersions[release.TypeDelivered]}
	v1 := schemaKey{release.TypeDelivered, 1}
	obj := func(v any, path ...any) map[string]any {
		for _, p := range path {
			switch p := p.(type) {
			case string:
				v = v.(map[string]any)[p]
			case int:
				v = v.([]any)[p]
			}
		}
		return v.(map[string]any)
	}
	for _, tc := range []struct {
		name    string
		key     schemaKey
		mutate  func(m map[string]any)
		where   string // JSON pointer of the rejected value
		keyword string // the failing keyword
	}{
		{"bad ISRC", delivered, func(m map[string]any) { obj(m, "tracks", 0)["isrc"] = "US-CA2-96-00191" }, "/tracks/0/isrc", "pattern"},
		{"lower-case ISRC", delivered, func(m map[string]any) { obj(m, "tracks", 1)["isrc"] = "usca29600192" }, "/tracks/1/isrc", "pattern"},
		{"bad deal ISRC", delivered, func(m map[string]any) { obj(m, "deals", 1)["track"] = "USCA296001" }, "/deals/1/track", "pattern"},
		{"bad UPC", delivered, func(m map[string]any) { m["upc"] = "724349501058X" }, "/upc", "pattern"},
		{"unknown property", delivered, func(m map[string]any) { m["releaseTitle"] = "x" }, "", "additionalProperties"},
		{"unknown deal property", delivered, func(m map[string]any) { obj(m, "deals", 0)["region"] = "EU" }, "/deals/0", "additionalProperties"},
		{"missing title", delivered, func(m map[string]any) { delete(m, "title") }, "", "required"},
		{"missing track id", delivered, func(m map[string]any) { delete(obj(m, "tracks", 0), "trackId") }, "/tracks/0", "required"},
		{"missing credit name", delivered, func(m map[string]any) { delete(obj(m, "artists", 0), "name") }, "/artists/0", "required"},
		{"string release id", delivered, func(m map[string]any) { m["releaseId"] = "1" }, "/releaseId", "type"},
		{"fractional duration", delivered, func(m map[string]any) { obj(m, "tracks", 0)["durationSeconds"] = 192.5 }, "/tracks/0/durationSeconds", "type"},
		{"null tracks", delivered, func(m map[string]any) { m["tracks"] = nil }, "/tracks", "type"},
		{"lower-case territory", delivered, func(m map[string]any) { obj(m, "deals", 0)["territories"] = []any{"gb"} }, "/deals/0/territories/0", "pattern"},
		{"three-letter territory", delivered, func(m map[string]any) { obj(m, "deals", 1)["excludedTerritories"] = []any{"USA"} }, "/deals/1/excludedTerritories/0", "pattern"},
		{"bad deal start", delivered, func(m map[string]any) { obj(m, "deals", 0)["start"] = "1997-07-10" }, "/deals/0/start", "format"},
		{"bad price amount", delivered, func(m map[string]any) { obj(m, "deals", 1, "price")["amount"] = "0,99" }, "/deals/1/price/amount", "pattern"},
		{"bad release date", delivered, func(m map[string]any) { m["releaseDate"] = "15/07/1997" }, "/releaseDate", "pattern"},
		{"bad parental warning", delivered, func(m map[string]any) { m["parentalWarning"] = "Clean" }, "/parentalWarning", "enum"},
		{"track disc 0", delivered, func(m map[string]any) { obj(m, "tracks", 0)["disc"] = 0 }, "/tracks/0/disc", "minimum"},
		{"bad added ISRC", schemaKey{release.TypeTracksChanged, 1}, func(m map[string]any) { m["added"] = []any{"X"} }, "/added/0", "pattern"},
		{"Worldwide in lower case", schemaKey{release.TypeTakenDown, 1}, func(m map[string]any) { m["territories"] = []any{"worldwide"} }, "/territories/0", "pattern"},
		{"v1 bad ISRC", v1, func(m map[string]any) { obj(m, "tracks", 0)["isrc"] = "USCA2960019" }, "/tracks/0/isrc", "pattern"},
		{"v1 v2 property", v1, func(m map[string]any) { m["deals"] = []any{} }, "", "additionalProperties"},
		{"v1 missing availability", v1, func(m map[string]any) { delete(m, "availability") }, "", "required"},
		{"v1 bad availability date", v1, func(m map[string]any) { obj(m, "availability", 0)["downloadFrom"] = "soon" }, "/availability/0/downloadFrom", "format"},
		{"v1 artist without id", v1, func(m map[string]any) { delete(obj(m, "artist"), "id") }, "/artist", "required"},
	} {
		m := toMap(t, exs[tc.key])
		tc.mutate(m)
		expectRejected(t, schemas, tc.key.file(), tc.name, m, tc.where, tc.keyword)
	}

	// Every schema: each required property left out, and an unknown one added.
	for key, ex := range exs {
		doc := readSchema(t, key.file())
		req, _ := doc["required"].([]any)
		for _, r := range req {
			m := toMap(t, ex)
			delete(m, r.(string))
			expectRejected(t, schemas, key.file(), "without "+r.(string), m, "", "required")
		}
		m := toMap(t, ex)
		m["unexpected"] = true
		expectRejected(t, schemas, key.file(), "with an unknown property", m, "", "additionalProperties")
	}
}

// toMap returns a deep copy of v as generic JSON (an object).
func toMap(t *testing.T, v any) map[string]any {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	return m
}

// expectRejected checks that payload fails the schema, and that one of the
// failures is keyword at the JSON pointer where.
func expectRejected(t *testing.T, schemas map[string]*jsonschema.Schema, file, name string, payload map[string]any, where, keyword string) {
	t.Helper()
	b, err := json.Marshal(payload)
	if err != nil {
		t.Fatal(err)
	}
	err = validate(schemas, file, b)
	if err == nil {
		t.Errorf("%s: payload %s is accepted, want it rejected (%s at %q)", file, name, keyword, where)
		return
	}
	var ve *jsonschema.ValidationError
	if !errors.As(err, &ve) {
		t.Errorf("%s: payload %s: %v", file, name, err)
		return
	}
	var failures []string
	collectFailures(ve, &failures)
	want := where + " " + keyword
	if !slices.Contains(failures, want) {
		t.Errorf("%s: payload %s is rejected, but not for %s at %q; failures: %q", file, name, keyword, where, failures)
	}
}

// collectFailures lists the innermost failures of a validation error as
// "<instance JSON pointer> <keyword>".
func collectFailures(e *jsonschema.ValidationError, out *[]string) {
	if len(e.Causes) == 0 {
		ptr := ""
		for _, p := range e.InstanceLocation {
			ptr += "/" + p
		}
		kw := e.ErrorKind.KeywordPath()
		*out = append(*out, ptr+" "+strings.Join(kw, "/"))
		return
	}
	for _, c := range e.Causes {
		collectFailures(c, out)
	}
}
