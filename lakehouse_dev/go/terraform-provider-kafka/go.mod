// Terraform's Kafka provider, built from the Go module proxy (the Terraform registry is not
// reachable here): its go.mod has a `replace` line, which `go install` refuses, so this module
// requires it and repeats the line.
module lakehouse.dev/terraform-provider-kafka

go 1.26.8

require github.com/Mongey/terraform-provider-kafka v0.13.1

tool github.com/Mongey/terraform-provider-kafka

// Copied from github.com/Mongey/terraform-provider-kafka v0.13.1's go.mod.
replace git.apache.org/thrift.git => github.com/apache/thrift v0.0.0-20180902110319-2566ecd5d999
