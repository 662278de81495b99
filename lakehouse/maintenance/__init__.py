"""Table maintenance: snapshot expiry that keeps every load's source position."""
