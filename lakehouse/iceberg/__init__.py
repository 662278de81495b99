"""The lakehouse's Iceberg tables: their catalog, declarations and commits."""

# The medallion's namespaces, here where reading them imports no pyiceberg.
NAMESPACES: tuple[str, ...] = ("bronze", "silver", "gold")
