output "topics" {
  description = "Each topic created, with its partitions and configuration."
  value = {
    for name, topic in kafka_topic.declared : name => {
      partitions = topic.partitions
      config     = topic.config
    }
  }
}
