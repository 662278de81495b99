# The lakehouse's Kafka topics, as its table declarations (iceberg/*.yaml) name them: a `topic:`
# block gives the name, partitions, retention (a number and s, m, h or d) and cleanup policy.
# The code reads the same files, so the topics Terraform creates are the ones the loads read.

provider "kafka" {
  bootstrap_servers = var.bootstrap_servers
  tls_enabled       = var.tls_enabled
  skip_tls_verify   = false
}

locals {
  declarations_dir = coalesce(var.declarations_dir, "${path.module}/../../iceberg")
  declarations = {
    for file in fileset(local.declarations_dir, "*.yaml") :
    file => yamldecode(file("${local.declarations_dir}/${file}"))
  }
  milliseconds = { s = 1000, m = 60000, h = 3600000, d = 86400000 }
  topics = {
    for file, declaration in local.declarations : declaration.topic.name => {
      declared_in = file
      retention   = lookup(declaration.topic, "retention", "7d")
      partitions  = lookup(declaration.topic, "partitions", 3)
      config = {
        "retention.ms" = try(
          tostring(
            tonumber(regex("^([0-9]+)[smhd]$", lookup(declaration.topic, "retention", "7d"))[0])
            * local.milliseconds[regex("[smhd]$", lookup(declaration.topic, "retention", "7d"))]
          ),
          null,
        )
        "cleanup.policy" = lookup(declaration.topic, "cleanup_policy", "delete")
      }
    } if can(declaration.topic)
  }
}

resource "kafka_topic" "declared" {
  for_each = local.topics

  name               = each.key
  partitions         = each.value.partitions
  replication_factor = var.replication_factor
  config             = each.value.config

  lifecycle {
    precondition {
      condition     = each.value.config["retention.ms"] != null
      error_message = "iceberg/${each.value.declared_in}: topic.retention is ${each.value.retention}; write it as a number and s, m, h or d, e.g. 7d."
    }
  }
}
