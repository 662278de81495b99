"""Checks that span layers: gold reconciled with silver."""
