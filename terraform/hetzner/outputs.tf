output "ipv4_address" {
  description = "The server's public IPv4 address."
  value       = hcloud_server.lakehouse.ipv4_address
}

output "ssh_tunnel" {
  description = "The command that brings the Dagster UI, Trino and MinIO's console to this machine's loopback."
  value       = "ssh -N -L 3000:127.0.0.1:3000 -L 8080:127.0.0.1:8080 -L 9001:127.0.0.1:9001 root@${hcloud_server.lakehouse.ipv4_address}"
}

output "urls" {
  description = "Where the services answer once the tunnel is up."
  value = {
    dagster = "http://127.0.0.1:3000"
    trino   = "http://127.0.0.1:8080"
    minio   = "http://127.0.0.1:9001"
  }
}
