"""The OpenAPI document matches what the running app does: schemathesis drives every operation."""

from __future__ import annotations

import asyncio
from typing import Any

import hypothesis
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from schemathesis.checks import not_a_server_error
from schemathesis.core.result import Ok
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from tests.api.conftest import Api

from .conftest import ACME

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
]
EXAMPLES = 12


def _fuzz(url: str, session_id: str) -> list[str]:
    """Run each operation's examples (random ids, then the real session) and return the failures."""
    schema = schemathesis.openapi.from_url(f"{url}/api/openapi.json")
    headers = {"Authorization": f"Bearer {ACME}"}
    failures: list[str] = []
    for result in schema.get_all_operations():
        assert isinstance(result, Ok), result.err()
        operation = result.ok()
        strategies = [operation.as_strategy()]
        if "{session_id}" in operation.path:
            strategies.append(operation.as_strategy(path_parameters={"session_id": session_id}))
        for strategy in strategies:

            @settings(
                max_examples=EXAMPLES,
                deadline=None,
                database=None,
                derandomize=True,
                phases=[Phase.explicit, Phase.generate],
                suppress_health_check=list(HealthCheck),
            )
            @given(case=strategy)
            def run(case: schemathesis.Case[Any]) -> None:
                case.call_and_validate(base_url=url, headers=headers, checks=CHECKS, timeout=30)

            try:
                run()
            except (AssertionError, Exception) as err:
                failures.append(f"{operation.label}: {err}")
    return failures


async def test_the_running_app_conforms_to_its_openapi_document(api: Api) -> None:
    session_id = (await api.start())["session"]["id"]
    hypothesis.seed(0)
    failures = await asyncio.to_thread(_fuzz, api.base, session_id)
    assert not failures, "\n\n".join(failures)


async def test_the_detail_keeps_the_seeds_names_for_its_triage_fields(api: Api) -> None:
    sid = (await api.start())["session"]["id"]
    _, detail = await api.call(
        "PATCH",
        f"/api/ai-sessions/{sid}/triage",
        {"hypothesis": "Stuck job 17 blocked the spooler", "add_evidence": ["Spooler restart cleared it"]},
        expect=200,
    )
    assert detail["triage_hypothesis"] == detail["hypothesis"] == "Stuck job 17 blocked the spooler"
    assert detail["evidence_items"] == detail["evidence"] and detail["evidence_items"][-1]["manual"]
    _, fetched = await api.call("GET", f"/api/ai-sessions/{sid}", expect=200)
    assert fetched["triage_hypothesis"] == "Stuck job 17 blocked the spooler"
    assert fetched["evidence_items"] == fetched["evidence"]

    _, doc = await api.call("GET", "/api/openapi.json", expect=200)
    shown = doc["components"]["schemas"]["SessionDetail"]["properties"]
    assert {"triage_hypothesis", "hypothesis", "evidence_items", "evidence"} <= set(shown)
