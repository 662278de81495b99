// The Hetzner Cloud provider for Terraform, built from the Go module proxy (the Terraform registry
// is not reachable here), the same way as the others.
module lakehouse.dev/terraform-provider-hcloud

go 1.26.8

require github.com/hetznercloud/terraform-provider-hcloud v1.60.1

tool github.com/hetznercloud/terraform-provider-hcloud
