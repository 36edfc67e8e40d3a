package main_test

import (
	"compress/gzip"
	"context"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/IBM/sarama"
	coltracepb "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"
	"google.golang.org/protobuf/proto"

	"github.com/catalog-org/catalog/testenv"
)

// span is one span as an OTLP collector received it.
type span struct {
	service, name        string
	trace, id, parent    string
	kind                 tracepb.Span_SpanKind
	links                []string // "trace/span" of each link
	attrs                map[string]string
	start, end           time.Time
	statusError          bool
	statusMessage, scope string
}

// collector is an OTLP/HTTP trace receiver (POST /v1/traces, protobuf):
// the roles under test export to it as they would to an OpenTelemetry
// Collector.
type collector struct {
	url   string
	mu    sync.Mutex
	spans []span
}

func newCollector(t *testing.T) *collector {
	t.Helper()
	c := &collector{}
	ln, err := net.Listen("tcp", testenv.FreeAddr(t))
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/v1/traces" || r.Method != http.MethodPost {
			http.NotFound(w, r)
			return
		}
		var body io.Reader = r.Body
		if r.Header.Get("Content-Encoding") == "gzip" {
			zr, err := gzip.NewReader(r.Body)
			if err != nil {
				http.Error(w, err.Error(), http.StatusBadRequest)
				return
			}
			body = zr
		}
		b, err := io.ReadAll(body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		var req coltracepb.ExportTraceServiceRequest
		if err := proto.Unmarshal(b, &req); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		c.add(&req)
		out, _ := proto.Marshal(&coltracepb.ExportTraceServiceResponse{})
		w.Header().Set("Content-Type", "application/x-protobuf")
		_, _ = w.Write(out)
	})}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Close() })
	c.url = "http://" + ln.Addr().String()
	return c
}

func (c *collector) add(req *coltracepb.ExportTraceServiceRequest) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, rs := range req.ResourceSpans {
		service := ""
		for _, a := range rs.GetResource().GetAttributes() {
			if a.Key == "service.name" {
				service = a.GetValue().GetStringValue()
			}
		}
		for _, ss := range rs.ScopeSpans {
			for _, s := range ss.Spans {
				sp := span{service: service, name: s.Name, trace: hex.EncodeToString(s.TraceId), id: hex.EncodeToString(s.SpanId),
					parent: hex.EncodeToString(s.ParentSpanId), kind: s.Kind, attrs: map[string]string{},
					start: time.Unix(0, int64(s.StartTimeUnixNano)), end: time.Unix(0, int64(s.EndTimeUnixNano)),
					statusError: s.GetStatus().GetCode() == tracepb.Status_STATUS_CODE_ERROR, statusMessage: s.GetStatus().GetMessage(),
					scope: ss.GetScope().GetName()}
				for _, l := range s.Links {
					sp.links = append(sp.links, hex.EncodeToString(l.TraceId)+"/"+hex.EncodeToString(l.SpanId))
				}
				for _, a := range s.Attributes {
					v := a.GetValue()
					switch {
					case v.GetStringValue() != "":
						sp.attrs[a.Key] = v.GetStringValue()
					default:
						sp.attrs[a.Key] = fmt.Sprint(v.GetIntValue())
					}
				}
				c.spans = append(c.spans, sp)
			}
		}
	}
}

// all returns the spans received so far.
func (c *collector) all() []span {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]span(nil), c.spans...)
}

// find returns the first span received that matches, waiting up to 30 s.
func (c *collector) find(t *testing.T, what string, match func(span) bool) span {
	t.Helper()
	var found span
	testenv.Eventually(t, 30*time.Second, func() error {
		for _, s := range c.all() {
			if match(s) {
				found = s
				return nil
			}
		}
		return fmt.Errorf("no span %s among %d received", what, len(c.all()))
	})
	return found
}

// children returns the spans received whose parent is p.
func (c *collector) children(p span) []span {
	var out []span
	for _, s := range c.all() {
		if s.trace == p.trace && s.parent == p.id {
			out = append(out, s)
		}
	}
	return out
}

// TestTracing runs ingest, the projector, the API and the gateway as their
// own processes, each exporting spans by OTLP to a collector of the test's,
// and follows one delivery's trace from the request that brought it,
// through the outbox and the Kafka record's headers, to the projector's
// commit and cache invalidation; then a read from the gateway through the
// API to Redis and PostgreSQL.
func TestTracing(t *testing.T) {
	t.Parallel()
	s := newStack(t)
	col := newCollector(t)
	t.Cleanup(func() {
		if t.Failed() {
			for _, x := range col.all() {
				t.Logf("span %s %s %q trace %s parent %s id %s links %v scope %s", x.service, x.kind, x.name, x.trace, x.parent, x.id, x.links, x.scope)
			}
		}
	})
	key := strings.TrimSpace(s.run(t, "clients", "add", "tracing"))
	otel := []string{"OTEL_EXPORTER_OTLP_ENDPOINT=" + col.url, "OTEL_BSP_SCHEDULE_DELAY=100"}
	for _, role := range []string{"ingest", "project", "api", "gateway"} {
		s.startWith(t, otel, role)
	}
	waitHTTP(t, "http://"+s.ingest+"/healthz")
	waitHTTP(t, "http://"+s.api+"/healthz")
	waitHTTP(t, "http://"+s.gateway+"/healthz")
	topic := s.prefix + "releases"

	// A delivery whose caller traces it: ingest continues the caller's trace.
	const callerTrace, callerSpan = "4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7"
	res := deliverTraced(t, s.ingest, dandyRelease, "00-"+callerTrace+"-"+callerSpan+"-01")
	trackID := res.TrackIDs["USCA29600191"]
	in := col.find(t, "ingest's server span", func(x span) bool {
		return x.service == "catalog-ingest" && x.trace == callerTrace && x.parent == callerSpan
	})
	if in.kind != tracepb.Span_SPAN_KIND_SERVER || in.name != "POST /v1/releases" {
		t.Errorf("ingest's server span: %s %q, want a server span POST /v1/releases", in.kind, in.name)
	}
	del := col.find(t, "ingest delivery", func(x span) bool { return x.parent == in.id && x.name == "ingest delivery" })
	if del.attrs["catalog.delivery.status"] != "accepted" || del.attrs["catalog.release.upc"] != "00724349501058" {
		t.Errorf("ingest delivery span attributes: %v", del.attrs)
	}
	send := col.find(t, "the relay's send", func(x span) bool { return x.parent == del.id && x.name == "send "+topic })
	if send.kind != tracepb.Span_SPAN_KIND_PRODUCER || send.trace != callerTrace || send.attrs["messaging.kafka.offset"] == "" {
		t.Errorf("send span: %+v", send)
	}
	proc := col.find(t, "the projector's process", func(x span) bool { return x.parent == send.id && x.name == "process "+topic })
	if proc.service != "catalog-project" || proc.kind != tracepb.Span_SPAN_KIND_CONSUMER || proc.trace != callerTrace {
		t.Errorf("process span: %+v", proc)
	}
	apply := col.find(t, "the projector's apply", func(x span) bool { return x.parent == proc.id && x.name == "apply batch" })
	if apply.attrs["catalog.applied"] == "0" || apply.statusError {
		t.Errorf("apply batch span: %+v", apply)
	}
	col.find(t, "a PostgreSQL span under the projector's apply", func(x span) bool {
		return x.parent == apply.id && x.scope == "github.com/exaring/otelpgx"
	})

	// The record in Kafka carries the send's trace context, for any
	// consumer's instrumentation to continue.
	if got := recordTraceparent(t, s.brokers, topic, send.attrs["messaging.destination.partition.id"], send.attrs["messaging.kafka.offset"]); got != "00-"+callerTrace+"-"+send.id+"-01" {
		t.Errorf("the record's traceparent is %q, want the send span's 00-%s-%s-01", got, callerTrace, send.id)
	}

	// A later delivery changes tracks already served: its trace reaches the
	// cache invalidation, and Redis under it.
	const updateTrace = "5cf92f3577b34da6a3ce929d0e0e4737"
	update := strings.Replace(strings.Replace(dandyRelease, `"e2e-1"`, `"e2e-2"`, 1), `"I Love You"`, `"I Love You (Remastered)"`, 1)
	deliverTraced(t, s.ingest, update, "00-"+updateTrace+"-"+callerSpan+"-01")
	inv := col.find(t, "the projector's cache invalidation", func(x span) bool {
		return x.trace == updateTrace && x.name == "invalidate cache" && x.service == "catalog-project"
	})
	if inv.statusError || inv.attrs["catalog.tracks"] == "0" {
		t.Errorf("invalidate cache span: %+v", inv)
	}
	col.find(t, "a Redis span under the cache invalidation", func(x span) bool {
		return x.parent == inv.id && strings.Contains(x.scope, "redisotel")
	})

	// A read through the gateway: a client's trace context is linked, not
	// continued; the gateway's own goes to the API, which reads Redis.
	const clientTrace, clientSpan = "6df92f3577b34da6a3ce929d0e0e4738", "10f067aa0ba902b8"
	readURL := fmt.Sprintf("http://%s/1.2/track/details?trackId=%d&country=GB&oauth_consumer_key=%s", s.gateway, trackID, url.QueryEscape(key))
	testenv.Eventually(t, 30*time.Second, func() error {
		req, _ := http.NewRequest(http.MethodGet, readURL, nil)
		req.Header.Set("traceparent", "00-"+clientTrace+"-"+clientSpan+"-01")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return err
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK || !strings.Contains(string(b), "I Love You (Remastered)") {
			return fmt.Errorf("%s: %s", resp.Status, b)
		}
		return nil
	})
	gw := col.find(t, "the gateway's server span", func(x span) bool {
		return x.service == "catalog-gateway" && x.name == "GET /1.2/track/details" && slicesContains(x.links, clientTrace+"/"+clientSpan)
	})
	if gw.trace == clientTrace || gw.parent != "" {
		t.Errorf("the gateway continued the client's trace: %+v", gw)
	}
	up := col.find(t, "the gateway's upstream call", func(x span) bool {
		return x.parent == gw.id && x.kind == tracepb.Span_SPAN_KIND_CLIENT && strings.HasSuffix(x.scope, "/otelhttp")
	})
	col.find(t, "the gateway's quota, counted in Redis", func(x span) bool {
		return x.parent == gw.id && strings.Contains(x.scope, "redisotel")
	})
	api := col.find(t, "the API's server span", func(x span) bool { return x.service == "catalog-api" && x.parent == up.id })

	if api.name != "GET /1.2/track/details" || api.kind != tracepb.Span_SPAN_KIND_SERVER {
		t.Errorf("API server span: %s %q", api.kind, api.name)
	}
	col.find(t, "a Redis span under the API's", func(x span) bool {
		return x.parent == api.id && strings.Contains(x.scope, "redisotel")
	})
	col.find(t, "a PostgreSQL span under an API request", func(x span) bool {
		if x.service != "catalog-api" || x.scope != "github.com/exaring/otelpgx" {
			return false
		}
		for _, p := range col.all() {
			if p.id == x.parent && p.kind == tracepb.Span_SPAN_KIND_SERVER {
				return true
			}
		}
		return false
	})

	// Traces start at requests only: background work (the relay's polls,
	// the clients' reloads) starts none.
	for _, x := range col.all() {
		if x.parent == "" && x.kind != tracepb.Span_SPAN_KIND_SERVER {
			t.Errorf("a trace starts at a %s span %q of %s (scope %s)", x.kind, x.name, x.service, x.scope)
		}
	}
}

func slicesContains(xs []string, x string) bool {
	for _, v := range xs {
		if v == x {
			return true
		}
	}
	return false
}

// deliverTraced posts a delivery to ingest with a traceparent header.
func deliverTraced(t *testing.T, ingestAddr, body, traceparent string) ingestResult {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, "http://"+ingestAddr+"/v1/releases", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("traceparent", traceparent)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusAccepted {
		t.Fatalf("deliver: %s %s", resp.Status, b)
	}
	var r ingestResult
	if err := json.Unmarshal(b, &r); err != nil {
		t.Fatal(err)
	}
	return r
}

// recordTraceparent reads one record of the topic with sarama and returns
// its traceparent header.
func recordTraceparent(t *testing.T, brokers []string, topic, partition, offset string) string {
	t.Helper()
	var p int32
	var off int64
	if _, err := fmt.Sscan(partition, &p); err != nil {
		t.Fatalf("partition %q: %v", partition, err)
	}
	if _, err := fmt.Sscan(offset, &off); err != nil {
		t.Fatalf("offset %q: %v", offset, err)
	}
	cfg := sarama.NewConfig()
	c, err := sarama.NewConsumer(brokers, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	pc, err := c.ConsumePartition(topic, p, off)
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	select {
	case m := <-pc.Messages():
		for _, h := range m.Headers {
			if string(h.Key) == "traceparent" {
				return string(h.Value)
			}
		}
		return ""
	case <-ctx.Done():
		t.Fatalf("no record at %s/%d offset %d", topic, p, off)
		return ""
	}
}
