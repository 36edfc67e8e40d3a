package ern_test

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/catalog-org/catalog/ingest/ern"
	"github.com/catalog-org/catalog/ingest/gen"
)

// edgeDocs are documents at the edges of what the fast decoder takes:
// each must come out of it as encoding/xml reads it, or be left to
// encoding/xml.
var edgeDocs = []string{
	`<a/>`,
	`<a></a>`,
	`<?xml version="1.0"?><a/>`,
	`<?xml version='1.0' encoding='utf-8' standalone="yes"?>` + "\r\n<a/>\r\n",
	`<?xml version="1.1"?><a/>`,
	`<?xml encoding="ISO-8859-1"?><a/>`,
	`<?xml encoding="UTF8"?><a/>`,
	`<?xml-stylesheet href="x"?><a/>`,
	`<!DOCTYPE a [<!ENTITY e "x">]><a>&e;</a>`,
	`<a>&lt;&gt;&amp;&apos;&quot;&#65;&#x42;&#X43;&#0;&#xD800;&#x10FFFF;&#x110000;&unknown;&amp</a>`,
	`<a>&#65;</a>`, `<a>&#x1F600;</a>`, `<a>&#0;</a>`, `<a>&#xD800;</a>`, `<a>&#x110000;</a>`, `<a>&e;</a>`, `<a>&amp</a>`,
	"<a>x\r\ny\rz\r</a>", "<a b=\"x\r\ny\tz\n\"/>", "<a>\x00</a>", "<a>\xff</a>", "<a>\uFFFE</a>", "<a>\uFFFD é 日本</a>",
	`<a> <![CDATA[ <b>&amp; ]]> x <!-- c --> y </a>`, `<a><![CDATA[x]]]]><![CDATA[>]]></a>`, `<a>]]></a>`, `<a>]]&gt;</a>`,
	`<a><!-- a -- b --></a>`, `<a><!-- a ---></a>`, `<a><!----></a>`, `<!-- c --><a/><!-- d -->`,
	`<a b='1' c="2"/>`, `<a b="1"c="2"/>`, `<a b=1/>`, `<a b/>`, `<a b="<"/>`, `<a b="&gt;"/>`, `<a b = "1" />`, `<a/ >`,
	`<p:a xmlns:p="urn:p"><p:b/><c xmlns="urn:d"><d/></c><q:e/></p:a>`,
	`<p:a xmlns:p="urn:p"></q:a>`, `<p:a xmlns:p="urn:p"></a>`, `<a></b>`, `<a></a >`, `<a></a x>`,
	`<a xmlns="urn:x" xmlns:x="urn:y" x:k="v" xml:lang="en" xmlns:xml="z"><xml:b/><xmlns:c/></a>`,
	`<a:b:c/>`, `<:a/>`, `<a:/>`, `<é/>`, `<aé/>`, `<1a/>`, `<a.b-c_d/>`,
	`<a/><b/>`, `x<a/>`, `<a/>x`, ` <a/> `, `<a>`, `<a`, `</a>`, `<`, ``, ` `, `<a><b></a>`,
	"\xef\xbb\xbf<a>bom</a>",
	`<a>  <b> x </b>  y  <c/>  z  </a>`, "<a>\u00a0x\u0085</a>", "<a> <!--c--> \u00a0 <!--c--> x</a>",
	strings.Repeat("<a>", 63) + strings.Repeat("</a>", 63), strings.Repeat("<a>", 64) + strings.Repeat("</a>", 64),
	strings.Repeat("<a>", 65) + strings.Repeat("</a>", 65),
}

// corpus returns the committed seeds of FuzzParse.
func corpus(tb testing.TB) map[string][]byte {
	tb.Helper()
	files, err := filepath.Glob(filepath.Join("testdata", "fuzz", "FuzzParse", "*"))
	if err != nil {
		tb.Fatal(err)
	}
	out := map[string][]byte{}
	for _, name := range files {
		raw, err := os.ReadFile(name)
		if err != nil {
			tb.Fatal(err)
		}
		lit, _ := strings.CutPrefix(strings.TrimSpace(string(raw)), "go test fuzz v1\n[]byte(")
		lit, _ = strings.CutSuffix(lit, ")")
		data, err := strconv.Unquote(lit)
		if err != nil {
			tb.Fatalf("%s: %v", name, err)
		}
		out[filepath.Base(name)] = []byte(data)
	}
	return out
}

// TestScanMatchesEncodingXML: on every sample, seed, edge document and
// generated delivery, the fast decoder gives the tree encoding/xml gives,
// or leaves the document to it; the samples and generated deliveries it
// must take itself.
func TestScanMatchesEncodingXML(t *testing.T) {
	t.Parallel()
	check := func(name string, data []byte, mustScan bool) {
		t.Helper()
		scanned, diff := ern.CompareDecoders(data)
		if diff != "" {
			t.Errorf("%s: %s", name, diff)
		}
		if mustScan && !scanned {
			t.Errorf("%s: the fast decoder declined it", name)
		}
	}
	if files, err := filepath.Glob(filepath.Join(samplesDir, "*.xml")); err == nil {
		for _, name := range files {
			data, err := os.ReadFile(name)
			if err != nil {
				t.Fatal(err)
			}
			check(filepath.Base(name), data, true)
		}
	}
	for name, data := range corpus(t) {
		check("seed "+name, data, false)
	}
	for _, doc := range []string{minimal382, minimal43, minimalPurge} {
		check("inline", []byte(doc), true)
	}
	for i, doc := range edgeDocs {
		check("edge "+strconv.Itoa(i)+" "+strconv.Quote(doc), []byte(doc), false)
	}
	for _, d := range gen.Catalogue(7, 300, gen.DefaultReuse) {
		var buf bytes.Buffer
		if err := gen.ERN43(&buf, d); err != nil {
			t.Fatal(err)
		}
		check(d.Name, buf.Bytes(), true)
	}
}

// FuzzScan checks the fast decoder against encoding/xml on arbitrary
// input: whatever it takes, encoding/xml reads without a problem into the
// same tree.
func FuzzScan(f *testing.F) {
	fuzzing := flag.Lookup("test.fuzz").Value.String() != ""
	if files, err := filepath.Glob(filepath.Join(samplesDir, "*.xml")); err == nil {
		for _, name := range files {
			data, err := os.ReadFile(name)
			if err == nil && (!fuzzing || len(data) <= maxFuzzingSeed) {
				f.Add(data)
			}
		}
	}
	for _, data := range corpus(f) {
		f.Add(data)
	}
	for _, doc := range append(edgeDocs, minimal382, minimal43, minimalPurge) {
		f.Add([]byte(doc))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		if _, diff := ern.CompareDecoders(data); diff != "" {
			t.Fatal(diff)
		}
	})
}
