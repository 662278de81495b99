// A validator of Grafana dashboards against Grafana's own schema, offline (no Grafana server can
// run here): the schema's Go types from the Grafana Foundation SDK, which this module requires,
// and main.go, its program.
module lakehouse.dev/grafana-dashboards

go 1.26.8

require github.com/grafana/grafana-foundation-sdk/go v0.0.22
