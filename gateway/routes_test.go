package gateway_test

import (
	"net/http"
	"testing"

	"github.com/catalog-org/catalog/api/apiroutes"
	"github.com/catalog-org/catalog/gateway"
)

// TestGatewayServesTheAPIRouteTable: the gateway guards and proxies every
// route of the API's own table, each under the service the table names, and
// passes the path on unchanged; a key without that service gets 403 naming
// it.
func TestGatewayServesTheAPIRouteTable(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	gw := f.gateway(t, gateway.Config{}, nil)
	routes := apiroutes.Public()
	if len(routes) == 0 {
		t.Fatal("the API's route table is empty")
	}
	// good-key has the default grant (catalogue); ops-key also identifiers.
	for _, r := range routes {
		for _, key := range []string{"good-key", "ops-key"} {
			allowed := r.Service == gateway.ServiceCatalogue || key == "ops-key"
			for _, method := range []string{http.MethodGet, http.MethodHead} {
				resp, body := doMethod(t, method, gw.URL, r.Path+"?oauth_consumer_key="+key, nil)
				switch {
				case allowed && resp.StatusCode != http.StatusOK:
					t.Errorf("%s %s with %s: %d %q, want 200", method, r.Path, key, resp.StatusCode, body)
				case allowed && *f.seenURL.Load() != r.Path+"?oauth_consumer_key="+key && *f.seenURL.Load() != r.Path:
					t.Errorf("%s %s reached the API as %s", method, r.Path, *f.seenURL.Load())
				case !allowed && resp.StatusCode != http.StatusForbidden:
					t.Errorf("%s %s with %s: %d, want 403", method, r.Path, key, resp.StatusCode)
				case !allowed && method == http.MethodGet && body != "Access to the "+r.Service+" service is not granted to this key":
					t.Errorf("%s %s with %s: %q does not name the %s service", method, r.Path, key, body, r.Service)
				}
			}
		}
	}
}
