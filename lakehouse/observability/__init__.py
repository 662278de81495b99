"""Observability: the lakehouse's own state as Prometheus metrics (`lakehouse metrics serve`)."""
