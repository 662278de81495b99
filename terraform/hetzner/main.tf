# One host that runs the lakehouse's compose stack: a server, a volume for Docker's data, and a
# firewall that lets in SSH alone. Every service publishes its port on the server's loopback;
# reach the Dagster UI, Trino and MinIO through an SSH tunnel (see the outputs).

provider "hcloud" {
  token = var.hcloud_token
}

resource "hcloud_ssh_key" "operator" {
  count      = length(var.ssh_public_keys)
  name       = "${var.name}-${count.index}"
  public_key = var.ssh_public_keys[count.index]
}

resource "hcloud_firewall" "lakehouse" {
  name = var.name

  rule {
    description = "SSH, the only way in"
    direction   = "in"
    protocol    = "tcp"
    port        = "22"
    source_ips  = var.ssh_allowed_cidrs
  }
}

resource "hcloud_volume" "docker_data" {
  name     = "${var.name}-docker"
  size     = var.volume_size_gb
  location = var.location
  format   = "ext4"
}

resource "hcloud_server" "lakehouse" {
  name         = var.name
  server_type  = var.server_type
  location     = var.location
  image        = var.image
  ssh_keys     = hcloud_ssh_key.operator[*].id
  firewall_ids = [hcloud_firewall.lakehouse.id]
  user_data = templatefile("${path.module}/cloud-init.yaml.tftpl", {
    volume_device    = "/dev/disk/by-id/scsi-0HC_Volume_${hcloud_volume.docker_data.id}"
    repository       = var.repository
    revision         = var.revision
    compose_profiles = var.compose_profiles
  })

  public_net {
    ipv4_enabled = true
    ipv6_enabled = true
  }
}

resource "hcloud_volume_attachment" "docker_data" {
  volume_id = hcloud_volume.docker_data.id
  server_id = hcloud_server.lakehouse.id
  automount = false
}
