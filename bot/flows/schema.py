"""The JSON Schema of `flowpilot.flow/1`, for editors (flows/schema.json is this, checked in).

It is the model's own schema plus the two limits validation enforces beyond the shape (label length, option
count), so an editor flags them while the author types.
"""

from __future__ import annotations

import json
from typing import Any

from .model import FLOW_SCHEMA, MAX_LABEL, MAX_OPTIONS, Flow

SCHEMA_ID = "https://flowpilot.dev/schema/flowpilot.flow-1.json"


def json_schema() -> dict[str, Any]:
    schema = Flow.model_json_schema(by_alias=True, mode="validation")
    defs = schema["$defs"]
    defs["Option"]["properties"]["label"]["maxLength"] = MAX_LABEL
    defs["QuestionNode"]["properties"]["options"]["maxItems"] = MAX_OPTIONS
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": SCHEMA_ID,
        "description": f"A FlowPilot flow ({FLOW_SCHEMA}): a troubleshooting decision tree.",
        **schema,
    }


def json_schema_text() -> str:
    return json.dumps(json_schema(), indent=2, sort_keys=True) + "\n"
