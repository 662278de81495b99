variable "hcloud_token" {
  description = "A Hetzner Cloud API token (read and write) of the project to deploy into."
  type        = string
  sensitive   = true
}

variable "name" {
  description = "The name of the server, its volume and its firewall."
  type        = string
  default     = "lakehouse"
}

variable "server_type" {
  description = "The server type: 4 vCPU and 16 GB run the core profile at the classic and 1M scales."
  type        = string
  default     = "cx42"
}

variable "location" {
  description = "The Hetzner location (fsn1, nbg1, hel1, ash, hil, sin)."
  type        = string
  default     = "fsn1"
}

variable "image" {
  description = "The operating system image; cloud-init installs Docker from its packages."
  type        = string
  default     = "ubuntu-24.04"
}

variable "volume_size_gb" {
  description = "The volume holding Docker's data: the warehouse, the catalog and Kafka's log."
  type        = number
  default     = 100
}

variable "ssh_public_keys" {
  description = "Public keys allowed to log in as root: the only way in, ports stay on loopback."
  type        = list(string)
}

variable "ssh_allowed_cidrs" {
  description = "Where SSH may come from."
  type        = list(string)
  default     = ["0.0.0.0/0", "::/0"]
}

variable "repository" {
  description = "The Git repository of the lakehouse to clone on the server."
  type        = string
}

variable "revision" {
  description = "The branch, tag or commit to run."
  type        = string
  default     = "main"
}

variable "compose_profiles" {
  description = "The optional compose profiles to start with the core services (notebooks, observability)."
  type        = list(string)
  default     = []
}
