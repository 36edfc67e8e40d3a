vcl 4.1;
# The local CDN in front of the gateway (deployments/local/up.sh fills in the
# @...@ values). It caches what the API marks public, keyed on the URL, the
# consumer key's carriers (the query string is in the URL; the Authorization
# header is hashed) and Accept (the API's Vary), tags each object with the
# API's Surrogate-Key values through vmod xkey, and accepts Fastly-shaped
# purges: POST /service/<id>/purge with Surrogate-Key: k1 k2 ..., or
# POST /service/<id>/purge/<key>, with the token in Fastly-Key.
import xkey;

backend gateway {
    .host = "@BACKEND_HOST@";
    .port = "@BACKEND_PORT@";
}

sub vcl_recv {
    if (req.url ~ "^/service/[^/]+/purge(/|$)") {
        if (req.method != "POST") {
            return (synth(405, "Method Not Allowed"));
        }
        if (req.url !~ "^/service/@SERVICE_ID@/purge(/|$)") {
            return (synth(404, "Unknown service"));
        }
        if (req.http.Fastly-Key != "@PURGE_TOKEN@") {
            return (synth(401, "Invalid token"));
        }
        if (req.url ~ "^/service/[^/]+/purge/.") {
            set req.http.X-Purge-Keys = regsub(req.url, "^/service/[^/]+/purge/([^?]*).*$", "\1");
        } else {
            set req.http.X-Purge-Keys = req.http.Surrogate-Key;
        }
        if (!req.http.X-Purge-Keys) {
            return (synth(400, "No Surrogate-Key"));
        }
        set req.http.X-Purged = xkey.purge(req.http.X-Purge-Keys);
        return (synth(200, "Purged"));
    }
    if (req.method != "GET" && req.method != "HEAD") {
        return (pass);
    }
    # Unlike builtin.vcl, a request with an Authorization header is cached:
    # the header is part of the hash (vcl_hash), so an answer only ever goes
    # back to a request carrying the same consumer key.
    return (hash);
}

sub vcl_hash {
    hash_data(req.url);
    if (req.http.Authorization) {
        hash_data(req.http.Authorization);
    }
    return (lookup);
}

sub vcl_backend_response {
    # Only what the API marks public is kept, for its max-age; everything
    # else (the gateway's 401, 403 and 429, no-store errors) is fetched
    # every time.
    if (beresp.http.Cache-Control !~ "public" || beresp.http.Set-Cookie) {
        set beresp.uncacheable = true;
        set beresp.ttl = 0s;
        return (deliver);
    }
    set beresp.grace = 0s;
    if (beresp.http.Surrogate-Key) {
        set beresp.http.xkey = beresp.http.Surrogate-Key;
    }
    return (deliver);
}

sub vcl_deliver {
    unset resp.http.xkey;
    unset resp.http.Surrogate-Key;
    if (obj.hits > 0) {
        set resp.http.X-Cache = "HIT";
    } else {
        set resp.http.X-Cache = "MISS";
    }
}

sub vcl_synth {
    if (req.http.X-Purged) {
        set resp.http.Content-Type = "application/json";
        set resp.body = {"{"status":"ok","purged":"} + req.http.X-Purged + {"}"};
        return (deliver);
    }
}
