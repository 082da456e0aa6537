"""What the fake answers when nothing is scripted: a plausible troubleshooting conversation.

A human trying the product against the fake sees a sensible exchange: a `respond` turn picks a playbook from
what the engineer wrote (printing, VPN, identity, DNS, or a general one), a `write_handoff` request gets a
handoff draft in its three fields, and a request with no tool gets that draft as markdown text. Any other
tool gets the smallest input its schema accepts.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class _Playbook:
    category: str
    domain: str
    hypothesis: str
    questions: tuple[tuple[str, tuple[str, ...]], ...]
    actions: tuple[str, ...]
    evidence: tuple[str, ...]
    recommendation: str


_GENERAL = _Playbook(
    "General",
    "general",
    "Not enough detail yet to tell whether the fault is local to one device or shared by several users.",
    (
        ("How many users are affected?", ("Just one", "Several", "Everyone")),
        ("When did it start?", ("Today", "This week", "After a change")),
    ),
    ("Reproduce the issue on a second device or account.", "Check the event log around the time it failed."),
    ("Issue reported by the engineer", "Reproduced on a second device", "Recent change on the device"),
    "Document the fix in the client's runbook and monitor for a recurrence.",
)

_PLAYBOOKS: tuple[tuple[re.Pattern[str], _Playbook], ...] = (
    (
        re.compile(r"printer|printing|spooler", re.I),
        _Playbook(
            "Printing",
            "printing",
            "A stuck job in the print spooler, or a paused queue, is blocking the printer.",
            (
                ("What does the print queue show?", ("Jobs stuck", "Queue empty", "Printer offline")),
                ("Does a test page from the printer's own panel print?", ("Yes", "No")),
            ),
            ("Restart the Print Spooler service and clear the spool folder.", "Ping the printer's IP."),
            ("Users cannot print", "Print spooler restarted", "Printer reachable on the network"),
            "Update the printer driver from the vendor and set the spooler service to restart on failure.",
        ),
    ),
    (
        re.compile(r"\bvpn\b", re.I),
        _Playbook(
            "VPN / Networking",
            "networking",
            "The VPN tunnel comes up but its routes or DNS servers are not being applied.",
            (
                ("Where does the VPN fail?", ("Authentication", "Connects, no access", "Drops later")),
                ("Does the user's home network use the same subnet as the office?", ("Yes", "No", "Unknown")),
            ),
            ("Run `route print` while connected; look for the office subnets.", "Check the VPN client log."),
            ("VPN connection fails", "Tunnel established", "Subnet overlap with home network"),
            "Push split-tunnel routes and DNS from the VPN gateway; avoid common home subnets in the office.",
        ),
    ),
    (
        re.compile(r"outlook|password|\bmfa\b", re.I),
        _Playbook(
            "Microsoft 365 / Identity",
            "identity",
            "The sign-in is blocked by MFA or a conditional access policy, or cached credentials are stale.",
            (
                ("What does the Entra ID sign-in log show?", ("MFA required", "Blocked by CA", "Success")),
                ("Does Outlook on the web work for the user?", ("Yes", "No")),
            ),
            ("Check the user's sign-in log in Entra ID.", "Clear cached credentials in Credential Manager."),
            ("User cannot sign in", "Outlook on the web works", "Conditional access policy applied"),
            "Re-register the user's MFA method and review conditional access policies for the account.",
        ),
    ),
    (
        re.compile(r"\bdns\b", re.I),
        _Playbook(
            "DNS / Networking",
            "networking",
            "Clients are using a DNS server that neither holds nor forwards the internal zone.",
            (
                ("What does nslookup return for the failing name?", ("Right IP", "Wrong IP", "NXDOMAIN")),
                ("Which DNS servers does ipconfig /all list?", ("Internal DC", "Router", "Public DNS")),
            ),
            ("Run `nslookup` against the domain controller directly.", "Check the DHCP scope's DNS option."),
            ("Name resolution fails", "DC answers the query directly", "DHCP hands out a public DNS server"),
            "Hand out only the domain controllers as DNS servers, with a forwarder for public names.",
        ),
    ),
)

_CONFIDENCE_BY_TURN = (0.3, 0.55, 0.75, 0.9)
_EVIDENCE_STATUSES = (("pending",), ("confirmed", "pending"), ("confirmed", "ruled_out", "pending"))
_CLIENT_RE = re.compile(r"(?:^|\s)(?:at|for)\s+([A-Z][A-Za-z0-9&'-]+)")
_ASSET_RE = re.compile(r"\b([A-Z][A-Z0-9]*-[A-Z0-9-]*\d[A-Z0-9-]*)\b")


def default_tool_input(tool: dict[str, Any], messages: list[dict[str, Any]]) -> dict[str, Any]:
    """A plausible ClaudeTurn for FlowPilot's `respond` tool; a minimal schema-valid dict for any other."""
    if tool.get("name") == "write_handoff":
        return default_draft(messages)
    if tool.get("name") != "respond":
        example: dict[str, Any] = _example_for(tool.get("input_schema") or {})
        return example
    user_contents = [m["content"] for m in messages if m["role"] == "user"]
    user_texts = [_text_of(content) for content in user_contents]
    first, last = user_texts[0], user_texts[-1]
    turn = len(user_texts)
    # The first message names the problem; later ones only count when it was too vague to classify.
    playbook = _playbook_for(first)
    if playbook is _GENERAL:
        playbook = _playbook_for(" ".join(user_texts))
    client = _CLIENT_RE.search(first)
    asset = _ASSET_RE.search(" ".join(user_texts))
    if last.strip():
        opening = f'You said: "{_snippet(last)}".'
    elif _has_image(user_contents[-1]):
        opening = "Thanks for the screenshot."
    else:
        opening = "Thanks for the update."
    n_actions = 1 if turn == 1 else 2
    asked = playbook.questions[:2] if turn == 1 else playbook.questions[(turn - 1) % 2 :][:1]
    statuses = _EVIDENCE_STATUSES[min(turn, len(_EVIDENCE_STATUSES)) - 1]
    return {
        "message": f"{opening} {playbook.hypothesis} Let's confirm it with the checks below.",
        "questions": [
            {"id": f"q{i}", "text": text, "options": list(options)}
            for i, (text, options) in enumerate(asked, 1)
        ],
        "actions": [{"id": f"a{i}", "text": text} for i, text in enumerate(playbook.actions[:n_actions], 1)],
        "triage_update": {
            "client_name": client.group(1) if client else None,
            "asset_name": asset.group(1) if asset else None,
            "issue_category": playbook.category,
            "hypothesis": playbook.hypothesis,
            "evidence": [
                {"text": text, "status": status}
                for text, status in zip(playbook.evidence, statuses, strict=False)
            ],
        },
        "problem_summary": _snippet(first, 120) or "Issue shown in a screenshot",
        "problem_domain": playbook.domain,
        "confidence": _CONFIDENCE_BY_TURN[min(turn, len(_CONFIDENCE_BY_TURN)) - 1],
    }


def default_draft(messages: list[dict[str, Any]]) -> dict[str, Any]:
    """A handoff draft for FlowPilot's `write_handoff` tool, built from what the engineer wrote."""
    user_texts = [t for t in (_text_of(m["content"]) for m in messages if m["role"] == "user") if t.strip()]
    if len(user_texts) == 1:
        user_texts = [line for line in user_texts[0].splitlines() if line.strip()]
    user_texts = user_texts or ["(no text in the conversation)"]
    playbook = _playbook_for(" ".join(user_texts))
    return {
        "root_cause": f"{playbook.hypothesis} Reported as: {_snippet(user_texts[0])}",
        "steps_taken": [f"Engineer noted: {_snippet(text)}" for text in user_texts[:5]],
        "recommendations": playbook.recommendation,
    }


def default_text(messages: list[dict[str, Any]]) -> str:
    """A plain answer to a request that forces no tool: the draft's sections as markdown."""
    draft = default_draft(messages)
    steps = "\n".join(f"{i}. {step}" for i, step in enumerate(draft["steps_taken"], 1))
    return (
        f"## Root cause\n{draft['root_cause']}\n\n"
        f"## Steps taken\n{steps}\n\n"
        f"## Recommendations\n{draft['recommendations']}\n"
    )


def _playbook_for(text: str) -> _Playbook:
    return next((playbook for pattern, playbook in _PLAYBOOKS if pattern.search(text)), _GENERAL)


def _text_of(content: Any) -> str:
    """The readable text of a message's content: a string, or text inside text and tool_result blocks."""
    if isinstance(content, str):
        return content
    parts: list[str] = []
    for block in content:
        if not isinstance(block, dict):
            continue
        if block.get("type") == "text":
            # What an app adds as context is not what the engineer said: a model would not quote it back.
            if not block.get("text", "").startswith("[FlowPilot context"):
                parts.append(block.get("text", ""))
        elif block.get("type") == "tool_result":
            parts.append(_text_of(block.get("content") or ""))
    return "\n".join(part for part in parts if part)


def _has_image(content: Any) -> bool:
    return isinstance(content, list) and any(block.get("type") == "image" for block in content)


def _snippet(text: str, limit: int = 80) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 1].rstrip() + "…"


def _example_for(schema: dict[str, Any]) -> Any:
    """The smallest value a JSON schema accepts, filling only required properties."""
    if "enum" in schema:
        return schema["enum"][0]
    kind = schema.get("type")
    if isinstance(kind, list):
        kind = kind[0]
    if kind == "object" or "properties" in schema:
        props = schema.get("properties", {})
        return {name: _example_for(props.get(name, {})) for name in schema.get("required", [])}
    return {"string": "example", "integer": 0, "number": 0, "boolean": False, "array": []}.get(kind or "")


def text_of(content: Any) -> str:
    """The readable text of a message's content (what the engineer wrote, without FlowPilot's context)."""
    return _text_of(content)
