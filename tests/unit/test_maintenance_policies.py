"""Which maintenance policy each table gets: its bronze declaration's, its dbt model's, or the defaults."""

import copy
import json

import pytest

from lakehouse.defs.maintenance.jobs import model_policies, policies
from lakehouse.defs.medallion.assets import DBT_PROJECT_DIR
from lakehouse.iceberg.declarations import DeclarationError


def test_bronze_declarations_and_dbt_models_declare_their_policies() -> None:
    declared = policies()
    assert declared[("bronze", "sales_events")].target_file_size == 64 * 2**20
    assert declared[("silver", "sales_master")].target_file_size == 256 * 2**20
    assert declared[("silver", "sales_master")].snapshot_retention.keep_last == 10
    # A model that declares none takes the defaults, as the job does with what is not here.
    assert ("gold", "daily_revenue") not in declared


def test_a_bad_model_policy_names_the_models_yaml_and_the_problem() -> None:
    manifest = json.loads((DBT_PROJECT_DIR / "target" / "manifest.json").read_text())
    broken = copy.deepcopy(manifest)
    [node] = [n for n in broken["nodes"].values() if n["resource_type"] == "model" and n["name"] == "sales_master"]
    node["config"]["meta"]["maintenance"]["target_file_size"] = "big"
    with pytest.raises(DeclarationError) as raised:
        model_policies(broken)
    message = str(raised.value)
    assert "dbt/models/intermediate/sales_master.yml: sales_master meta.maintenance" in message
    assert "'big' is not a size" in message
