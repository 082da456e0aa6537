"""/api/flows as a script or a web page uses it: post a flow as YAML or JSON (a new version only when it
changed; 422 with every fault and its line), list the account's flows with counters, read one (or its Mermaid
diagram) and its versions; another account's flow is a 404."""

from __future__ import annotations

import json

import aiohttp
import yaml

from bot.flows.validate import validate
from tests.api.conftest import EVIL, Api, api

from .test_validate import GOOD

__all__ = ["api"]  # the REST API fixture, shared with tests/api


async def _post_yaml(api: Api, text: str, token: str | None = None) -> tuple[int, dict[str, object]]:
    async with api.http.post(
        f"{api.base}/api/flows",
        data=text.encode(),
        headers={**api.headers(token), "Content-Type": "application/yaml"},
    ) as r:
        return r.status, await r.json()


async def test_posting_a_flow_makes_a_version_only_when_it_changed(api: Api) -> None:
    status, created = await _post_yaml(api, GOOD)
    assert status == 201 and created["changed"] is True, created
    flow = created["flow"]
    assert isinstance(flow, dict) and flow["version"] == 1

    same = await api.call("POST", "/api/flows", yaml.safe_load(GOOD), expect=200)  # the same flow, as JSON
    assert same[1]["changed"] is False and same[1]["flow"]["version_id"] == flow["version_id"]
    changed = yaml.safe_load(GOOD)
    changed["title"] = "Outlook asks for the password again and again"
    _, v2 = await api.call("POST", "/api/flows", changed, expect=201)
    assert v2["flow"]["version"] == 2

    _, versions = await api.call("GET", f"/api/flows/{flow['id']}/versions", expect=200)
    assert [v["version"] for v in versions["versions"]] == [2, 1]
    _, detail = await api.call("GET", "/api/flows/m365-outlook-password-loop", expect=200)
    assert detail["title"] == "Outlook asks for the password again and again"
    assert detail["flow"]["nodes"]["owa"]["type"] == "question"
    assert json.loads(detail["source"]) == changed  # exactly what was posted

    async with api.http.get(f"{api.base}/api/flows/{flow['id']}?format=mermaid", headers=api.headers()) as r:
        assert r.status == 200 and r.content_type == "text/plain"
        assert (await r.text()).startswith("flowchart TD\n")


async def test_a_faulty_flow_is_422_with_every_fault_and_its_line(api: Api) -> None:
    bad = GOOD.replace("start: owa", "start: owb").replace(
        '{label: "No", next: tier2}', '{label: "No", next: tier3}'
    )
    status, body = await _post_yaml(api, bad)
    assert status == 422
    error = body["error"]
    assert isinstance(error, dict)
    assert [(f["loc"], f["message"]) for f in error["fields"]] == [
        (["body", 9], "body:9: start: unknown node 'owb'"),
        (["body", 16], "body:16: nodes.owa.options[1].next: unknown node 'tier3'"),
    ]
    assert error["message"].startswith("The flow has 2 faults: body:9:")
    _, listed = await api.call("GET", "/api/flows", expect=200)
    assert listed["flows"] == []  # nothing half-stored
    status, body = await _post_yaml(api, "nodes: [\n")
    assert status == 422 and "not valid YAML" in json.dumps(body)


async def test_the_account_sees_its_flows_with_counters_and_never_another_accounts(api: Api) -> None:
    _, created = await api.call("POST", "/api/flows", yaml.safe_load(GOOD), expect=201)
    flow = created["flow"]
    await api.runtime.flows.count(flow["version_id"], event="started")
    await api.runtime.flows.count(flow["version_id"], event="left", node="owa")

    _, listed = await api.call("GET", "/api/flows", expect=200)
    [mine] = listed["flows"]
    assert (mine["slug"], mine["shared"]) == ("m365-outlook-password-loop", False)
    assert mine["counters"] == {"started": 1, "resolved": 0, "escalated": 0, "left": 1, "left_at": {"owa": 1}}

    _, theirs = await api.call("GET", "/api/flows", token=EVIL, expect=200)
    assert theirs["flows"] == []
    for path in (
        f"/api/flows/{flow['id']}",
        "/api/flows/m365-outlook-password-loop",
        f"/api/flows/{flow['id']}/versions",
    ):
        status, body = await api.call("GET", path, token=EVIL)
        assert (status, body["error"]["code"]) == (404, "not_found")
    # The other account may have its own flow under the same slug; each sees its own.
    other = yaml.safe_load(GOOD)
    other["title"] = "EVIL's Outlook flow"
    await api.call("POST", "/api/flows", other, token=EVIL, expect=201)
    _, detail = await api.call("GET", "/api/flows/m365-outlook-password-loop", expect=200)
    assert detail["title"] == "Outlook keeps prompting for password"


async def test_no_token_no_flows(api: Api) -> None:
    async with aiohttp.ClientSession() as http, http.get(f"{api.base}/api/flows") as r:
        assert r.status == 401


async def test_a_goto_flow_to_a_flow_the_library_lacks_is_imported_with_a_warning(api: Api) -> None:
    jumping = GOOD.replace(
        "{type: ai, hint: Consider Conditional Access}", "{type: goto_flow, flow: m365-conditional-access}"
    )
    status, body = await _post_yaml(api, jumping)
    assert status == 201 and body["changed"] is True
    assert body["warnings"] == [
        "body:23: nodes.explore.flow: no flow 'm365-conditional-access' in the library yet: a session that "
        "reaches this node goes on with Claude (import that flow too)"
    ]
    # Once the flow it names is in the library, the same jump is quiet.
    target = GOOD.replace("id: m365-outlook-password-loop", "id: m365-conditional-access")
    assert (await _post_yaml(api, target))[0] == 201
    status, body = await _post_yaml(api, jumping)
    assert status == 200 and body["warnings"] == []


async def test_an_account_hides_a_shared_flow_over_rest_and_shows_it_again(api: Api) -> None:
    """A starter flow the MSP does not use: hidden from its listing and its sessions, still there for others."""
    flow = validate(GOOD).flow
    assert flow is not None
    await api.runtime.flows.save(flow, source=GOOD, account_id=None, origin="starter")
    slug = "m365-outlook-password-loop"

    _, hidden = await api.call("POST", f"/api/flows/{slug}/hide", expect=200)
    assert hidden == {"flow": slug, "hidden": True}
    _, listed = await api.call("GET", "/api/flows", expect=200)
    assert listed["flows"] == []
    assert (await api.call("GET", f"/api/flows/{slug}"))[0] == 404
    _, theirs = await api.call("GET", "/api/flows", token=EVIL, expect=200)
    assert [f["slug"] for f in theirs["flows"]] == [slug]  # another account still sees it

    _, shown = await api.call("POST", f"/api/flows/{slug}/show", expect=200)
    assert shown == {"flow": slug, "hidden": False}
    _, listed = await api.call("GET", "/api/flows", expect=200)
    assert [f["slug"] for f in listed["flows"]] == [slug]
    status, body = await api.call("POST", "/api/flows/no-such-flow/hide")
    assert (status, body["error"]["code"]) == (404, "not_found")
