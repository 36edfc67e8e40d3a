package main

import (
	"fmt"
	"strings"
	"testing"

	"github.com/catalog-org/catalog/events"
)

func envOf(m map[string]string) func(string) string { return func(k string) string { return m[k] } }

// TestTrustedProxiesSetting: CATALOG_GATEWAY_TRUSTED_PROXIES is a list of
// CIDR networks, none by default; anything else is refused by name.
func TestTrustedProxiesSetting(t *testing.T) {
	c, err := loadConfig(envOf(nil))
	if err != nil || len(c.TrustedProxies) != 0 {
		t.Fatalf("default: %v %v, want no trusted proxies", c.TrustedProxies, err)
	}
	c, err = loadConfig(envOf(map[string]string{"CATALOG_GATEWAY_TRUSTED_PROXIES": " 10.0.0.0/8, 127.0.0.1/32,::1/128 "}))
	if err != nil || fmt.Sprint(c.TrustedProxies) != "[10.0.0.0/8 127.0.0.1/32 ::1/128]" {
		t.Fatalf("three networks: %v %v", c.TrustedProxies, err)
	}
	for _, bad := range []string{"127.0.0.1", "10.0.0.0/33", "cdn.example.com", strings.Repeat("10.0.0.0/8,", 101)} {
		_, err := loadConfig(envOf(map[string]string{"CATALOG_GATEWAY_TRUSTED_PROXIES": bad}))
		if err == nil || !strings.Contains(err.Error(), "CATALOG_GATEWAY_TRUSTED_PROXIES") {
			t.Errorf("%.40q: %v, want an error naming the setting", bad, err)
		}
	}
}

// TestRequirePartiesSetting: CATALOG_INGEST_REQUIRE_PARTIES is false by
// default, true or false when set; anything else is refused by name.
func TestRequirePartiesSetting(t *testing.T) {
	if c, err := loadConfig(envOf(nil)); err != nil || c.RequireParties {
		t.Fatalf("default: %v %v, want false", c.RequireParties, err)
	}
	if c, err := loadConfig(envOf(map[string]string{"CATALOG_INGEST_REQUIRE_PARTIES": "true"})); err != nil || !c.RequireParties {
		t.Fatalf("true: %v %v", c.RequireParties, err)
	}
	if _, err := loadConfig(envOf(map[string]string{"CATALOG_INGEST_REQUIRE_PARTIES": "yes"})); err == nil || !strings.Contains(err.Error(), "CATALOG_INGEST_REQUIRE_PARTIES") {
		t.Fatalf("yes: %v, want an error naming the setting", err)
	}
}

// TestTopicReplicationSetting: CATALOG_TOPIC_REPLICATION is auto by
// default, a number from 1 to 7 when set; anything else is refused by name.
func TestTopicReplicationSetting(t *testing.T) {
	if c, err := loadConfig(envOf(nil)); err != nil || c.TopicReplication != events.ReplicationAuto {
		t.Fatalf("default: %v %v, want auto", c.TopicReplication, err)
	}
	for in, want := range map[string]int16{"auto": events.ReplicationAuto, "1": 1, "3": 3, "7": 7} {
		if c, err := loadConfig(envOf(map[string]string{"CATALOG_TOPIC_REPLICATION": in})); err != nil || c.TopicReplication != want {
			t.Errorf("%s: %v %v, want %d", in, c.TopicReplication, err, want)
		}
	}
	for _, bad := range []string{"0", "8", "-1", "three", "Auto"} {
		_, err := loadConfig(envOf(map[string]string{"CATALOG_TOPIC_REPLICATION": bad}))
		if err == nil || !strings.Contains(err.Error(), "CATALOG_TOPIC_REPLICATION") || !strings.Contains(err.Error(), "auto") {
			t.Errorf("%s: %v, want an error naming the setting and its values", bad, err)
		}
	}
}

// TestRegionKafkaSettings: CATALOG_REGIONS is a list of NAME=BROKERS
// naming regions other than central; anything else is refused by name.
func TestRegionKafkaSettings(t *testing.T) {
	c, err := loadConfig(envOf(nil))
	if err != nil || c.Region != "central" || len(c.Regions) != 0 {
		t.Fatalf("default: %q %v %v, want central and no regions", c.Region, c.Regions, err)
	}
	c, err = loadConfig(envOf(map[string]string{"CATALOG_REGION": "india", "CATALOG_REGIONS": "india=127.0.0.1:59192, eu-west=k1:9092|k2:9092"}))
	if err != nil || c.Region != "india" || fmt.Sprint(c.Regions) != "[{india [127.0.0.1:59192]} {eu-west [k1:9092 k2:9092]}]" {
		t.Fatalf("india: %q %v %v", c.Region, c.Regions, err)
	}
	for k, bad := range map[string][]string{
		"CATALOG_REGION":  {"India", "1st", "a_b", strings.Repeat("a", 33)},
		"CATALOG_REGIONS": {"india", "india=", "india=host", "central=h:1", "India=h:1", "india=h:1,india=h:2"},
	} {
		for _, v := range bad {
			if _, err := loadConfig(envOf(map[string]string{k: v})); err == nil || !strings.Contains(err.Error(), k) {
				t.Errorf("%s=%q: %v, want an error naming the setting", k, v, err)
			}
		}
	}
}

// TestRegionSettings: CATALOG_REGION is central by default and a valid
// region name when set; CATALOG_REGION_URLS is name=URL pairs of absolute
// http(s) URLs, at most 32; the quota prefix names a region other than
// central; anything else is refused naming the setting.
func TestRegionSettings(t *testing.T) {
	c, err := loadConfig(envOf(nil))
	if err != nil || c.Region != "central" || len(c.RegionURLs) != 0 || c.QuotaPrefix != "catalog:quota:" {
		t.Fatalf("default: %q %v %q %v", c.Region, c.RegionURLs, c.QuotaPrefix, err)
	}
	c, err = loadConfig(envOf(map[string]string{"CATALOG_REGION": "india",
		"CATALOG_REGION_URLS": " central=http://127.0.0.1:8080 , india=https://in.api.example.com/catalog "}))
	if err != nil || c.Region != "india" || c.RegionURLs["central"].String() != "http://127.0.0.1:8080" ||
		c.RegionURLs["india"].String() != "https://in.api.example.com/catalog" || c.QuotaPrefix != "catalog:quota:india:" {
		t.Fatalf("india: %q %v %q %v", c.Region, c.RegionURLs, c.QuotaPrefix, err)
	}
	many := ""
	for i := 0; i < 33; i++ {
		many += fmt.Sprintf("r%d=http://h%d,", i, i)
	}
	for k, bad := range map[string][]string{
		"CATALOG_REGION": {"India", "1india", "in_dia", strings.Repeat("a", 33)},
		"CATALOG_REGION_URLS": {"central", "central=127.0.0.1:8080", "central=ftp://h", "Central=http://h", "central=http://h,central=http://i",
			"central=http://h?x=1", "central=http://u:p@h", "central=/relative", many},
	} {
		for _, v := range bad {
			_, err := loadConfig(envOf(map[string]string{k: v}))
			if err == nil || !strings.Contains(err.Error(), k) {
				t.Errorf("%s=%.40q: %v, want an error naming the setting", k, v, err)
			}
		}
	}
}

// CATALOG_REDIS_URL: each form gives the location, credentials and TLS;
// a wrong one is refused naming the setting, never printing the password.
func TestRedisURLSetting(t *testing.T) {
	c, err := loadConfig(envOf(map[string]string{"CATALOG_REDIS_URL": "rediss://catalog:pw@redis.example.com:6380/2"}))
	if err != nil || c.Redis.Addrs[0] != "redis.example.com:6380" || c.Redis.Username != "catalog" || c.Redis.Password != "pw" ||
		c.Redis.DB != 2 || c.Redis.TLSConfig == nil {
		t.Fatalf("rediss URL: %+v %v", c.Redis, err)
	}
	c, err = loadConfig(envOf(map[string]string{"CATALOG_REDIS_URL": "redis://s1:26379?master_name=primary&addr=s2:26379&password=mpw"}))
	if err != nil || c.Redis.MasterName != "primary" || len(c.Redis.Addrs) != 2 || c.Redis.Password != "mpw" || c.Redis.TLSConfig != nil {
		t.Fatalf("Sentinel URL: %+v %v", c.Redis, err)
	}
	if c, err := loadConfig(envOf(map[string]string{"CATALOG_REDIS_ADDR": "none"})); err != nil || c.Redis != nil {
		t.Fatalf("no Redis: %+v %v", c.Redis, err)
	}
	for _, bad := range []map[string]string{
		{"CATALOG_REDIS_URL": "http://user:topsecret@host:6379"},
		{"CATALOG_REDIS_URL": "redis://user:topsecret@host:6379?dial_timeout=3"},
		{"CATALOG_REDIS_URL": "redis://user:topsecret@host:6379?password=x"},
		{"CATALOG_REDIS_URL": "redis://user:topsecret@host:6379", "CATALOG_REDIS_TLS_CA_FILE": "/etc/ca.pem"},
		{"CATALOG_REDIS_TLS_CA_FILE": "/etc/ca.pem"},
	} {
		_, err := loadConfig(envOf(bad))
		if err == nil || !strings.Contains(err.Error(), "CATALOG_REDIS_") || strings.Contains(err.Error(), "topsecret") {
			t.Errorf("%v: %v", bad, err)
		}
	}
}
