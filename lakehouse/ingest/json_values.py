"""JSON values on their way to the declared columns, for Kafka messages and JSON Lines files alike.

Arrow's JSON reader types numbers, booleans and text itself; the other declared types (timestamps,
dates, decimals) are read as text and cast as ``split_by_schema`` casts them, which refuses a
timestamp without a zone. Values parsed one by one with Python's ``json`` module are turned into
text the same way, so one safe cast decides what fits whichever path a value took.
"""

import json
import math

import pyarrow as pa


def is_text(kind: pa.DataType) -> bool:
    return bool(pa.types.is_string(kind) or pa.types.is_large_string(kind))


def _json_native(kind: pa.DataType) -> bool:
    """Whether Arrow's JSON reader types the value itself."""
    return pa.types.is_integer(kind) or pa.types.is_floating(kind) or pa.types.is_boolean(kind) or is_text(kind)


def json_reading_schema(target: pa.Schema) -> pa.Schema:
    """What Arrow's JSON reader reads the declared columns as: their own types where it can, else text."""
    return pa.schema([pa.field(f.name, f.type if _json_native(f.type) else pa.string()) for f in target])


def json_text(value: object) -> str | None:
    """A JSON value as text for ``split_by_schema``: numbers and the rest in their JSON spelling."""
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int) or (isinstance(value, float) and math.isfinite(value)):
        return repr(value)  # json.dumps spells these the same, several times slower
    return json.dumps(value)
