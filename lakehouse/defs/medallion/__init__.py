"""The medallion: the dbt project's models as silver and gold assets, the nightly batch, and automation."""
