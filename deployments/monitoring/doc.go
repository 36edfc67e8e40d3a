// Package monitoring holds catalog's Prometheus alert rules
// (alerts.yml, unit-tested in alerts_test.yml) and Grafana dashboard
// (grafana-dashboard.json); its tests check them with promtool and
// against the metrics catalog's code exports.
package monitoring
