// The Compose CLI, built from the Go module proxy: `go install github.com/docker/compose/v5/cmd@v5.6.0`
// refuses a module whose go.mod has `exclude` lines, so this module requires it and repeats them.
module lakehouse.dev/compose

go 1.26.8

require github.com/docker/compose/v5 v5.6.0

tool github.com/docker/compose/v5/cmd

// Copied from github.com/docker/compose/v5 v5.6.0's go.mod.
exclude (
	github.com/davecgh/go-spew v1.1.2-0.20180830191138-d8f796af33cc
	github.com/pmezard/go-difflib v1.0.1-0.20181226105442-5d4384ee4fb2
)
