variable "bootstrap_servers" {
  description = "The brokers, host:port each (the compose stack's is [\"127.0.0.1:9094\"])."
  type        = list(string)
}

variable "declarations_dir" {
  description = "The table declarations whose `topic:` blocks name the topics; the checkout's iceberg/ when null."
  type        = string
  default     = null
}

variable "replication_factor" {
  description = "Replicas of each partition: 1 on a single broker."
  type        = number
  default     = 1
}

variable "tls_enabled" {
  description = "Whether the brokers speak TLS."
  type        = bool
  default     = false
}
