"""Landing files: partners' deliveries into bronze, each file exactly once, with quarantine."""
