// Command grafana-dashboards checks Grafana dashboard JSON files against Grafana's schema.
//
// Each file is decoded strictly (an unknown field, a field of the wrong type or a missing required
// one is a problem) with the panel and data-query types of Grafana's core plugins registered, so
// a panel's options and a Prometheus target are checked too; then the schema's constraints are
// validated. It prints one JSON object that maps each file to its problems (none for a valid
// file) and exits 1 when any file has one.
package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"

	"github.com/grafana/grafana-foundation-sdk/go/cog"
	"github.com/grafana/grafana-foundation-sdk/go/cog/plugins"
	"github.com/grafana/grafana-foundation-sdk/go/dashboard"
)

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: grafana-dashboards DASHBOARD.json...")
		os.Exit(2)
	}
	plugins.RegisterDefaultPlugins()
	report := make(map[string][]string, len(os.Args)-1)
	valid := true
	for _, path := range os.Args[1:] {
		report[path] = check(path)
		valid = valid && len(report[path]) == 0
	}
	output, err := json.MarshalIndent(report, "", "  ")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	fmt.Println(string(output))
	if !valid {
		os.Exit(1)
	}
}

// check returns the problems of the dashboard in path, each naming where in the file it is.
func check(path string) []string {
	raw, err := os.ReadFile(path)
	if err != nil {
		return []string{err.Error()}
	}
	var board dashboard.Dashboard
	if err := board.UnmarshalJSONStrict(raw); err != nil {
		if found := problems(err); len(found) > 0 {
			return found
		}
	}
	return problems(board.Validate())
}

// problems lists err's build errors one by one. The SDK's decoder returns its list of build errors
// even when the list is empty, a non-nil error that means success: an empty list is no problem.
func problems(err error) []string {
	found := []string{}
	if err == nil {
		return found
	}
	var buildErrors cog.BuildErrors
	if !errors.As(err, &buildErrors) {
		return append(found, err.Error())
	}
	for _, buildError := range buildErrors {
		found = append(found, buildError.Error())
	}
	return found
}
