"""Validation: a sound flow passes, and each fault an author can make is reported as `file:line: problem`,
all of them at once."""

from __future__ import annotations

import json

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.flows.validate import validate

GOOD = """\
schema: flowpilot.flow/1
id: m365-outlook-password-loop
title: Outlook keeps prompting for password
domain: m365
tags: [outlook, credentials]
match:
  triggers: [Outlook desktop repeatedly asks for the user's password]
  keywords: [outlook, password, prompt]
start: owa
nodes:
  owa:
    type: question
    text: Does Outlook on the web work?
    options:
      - {label: "Yes", next: creds, evidence: {text: OWA works, status: confirmed}}
      - {label: "No", next: tier2}
  creds:
    type: action
    text: Clear the MicrosoftOffice16 entries in Credential Manager
    command: cmdkey /list | findstr MicrosoftOffice16
    next: {done: fixed, didnt_work: explore}
  fixed: {type: resolution, root_cause: Stale cached Office credentials}
  explore: {type: ai, hint: Consider Conditional Access}
  tier2: {type: escalate, team: Tier 2, reason: Mailbox-level issue}
"""


def _with(old: str, new: str) -> str:
    assert old in GOOD, old
    return GOOD.replace(old, new, 1)


def test_a_sound_flow_passes() -> None:
    checked = validate(GOOD, file="outlook.yaml")
    assert checked.faults == ()
    assert checked.flow is not None and checked.flow.start == "owa"


# (what is wrong, the file, the line the author is sent to, words of the problem)
CASES = [
    ("bad YAML", _with("  owa:\n", "  owa: [\n"), 13, "not valid YAML"),
    ("not a mapping", "- just\n- a list\n", 1, "a flow is a mapping"),
    ("only null", "null\n", 1, "a flow is a mapping"),
    ("empty file", "", 1, "empty"),
    ("unknown field", _with("    type: question\n", "    type: question\n    colour: red\n"), 13, "nodes.owa.colour: unknown field"),
    ("missing text", _with("    text: Does Outlook on the web work?\n", ""), 11, "nodes.owa: missing field 'text'"),
    ("wrong type", _with("tags: [outlook, credentials]", "tags: 7"), 5, "tags: Input should be a valid tuple"),
    ("number as text", _with("title: Outlook keeps prompting for password", "title: 1.10"), 3, "YAML reads 1.1 as a number: quote it"),
    ("missing title", _with("title: Outlook keeps prompting for password\n", ""), 1, "missing field 'title'"),
    ("unquoted Yes label", _with('{label: "Yes", next: creds', "{label: Yes, next: creds"), 15, "quote it"),
    ("unknown node type", _with("{type: ai, hint", "{type: robot, hint"), 23, "nodes.explore: Input tag 'robot'"),
    ("unknown next", _with('{label: "No", next: tier2}', '{label: "No", next: tier3}'), 16, "nodes.owa.options[1].next: unknown node 'tier3'"),
    ("unknown start", _with("start: owa", "start: owb"), 9, "start: unknown node 'owb'"),
    ("unreachable node", GOOD + "  orphan: {type: ai}\n", 25, "node 'orphan' is never reached"),
    ("no end node", _with("{type: resolution, root_cause: Stale cached Office credentials}", "{type: info, text: x, next: owa}").replace("{type: ai, hint: Consider Conditional Access}", "{type: info, text: y, next: owa}").replace("{type: escalate, team: Tier 2, reason: Mailbox-level issue}", "{type: info, text: z, next: owa}"), 10, "no end node"),
    ("loop without exit", _with('{label: "No", next: tier2}', '{label: "No", next: spin}') + "  spin: {type: info, text: Wait, next: spin2}\n  spin2: {type: info, text: Wait more, next: spin}\n", 25, "nodes 'spin', 'spin2' loop with no way out"),
    ("label too long", _with('{label: "No", next: tier2}', '{label: "' + "N" * 76 + '", next: tier2}'), 16, "label is 76 characters"),
    ("too many options", _with('      - {label: "No", next: tier2}\n', "".join(f'      - {{label: "No {i}", next: tier2}}\n' for i in range(25))), 14, "26 options; at most 25"),
    ("duplicate label", _with('{label: "No", next: tier2}', '{label: "yes", next: tier2}'), 16, "label 'yes' is used twice"),
    ("duplicate node id", GOOD + "  owa: {type: ai}\n", 25, "node id 'owa' is written twice"),
    ("duplicate key", _with("domain: m365\n", "domain: m365\ndomain: other\n"), 5, "key 'domain' is written twice"),
    ("YAML 1.1 boolean key", _with("  tier2:", "  on:").replace("next: tier2", "next: 'on'"), 24, "key 'on' is read as a boolean"),
    ("a password in a command", _with("command: cmdkey /list | findstr MicrosoftOffice16", 'command: net use \\\\fs01\\shared /user:acme\\admin "Winter2025!x"'), 20, "looks like a password written into the flow"),
    ("goto_flow to itself", GOOD.replace("{type: ai, hint: Consider Conditional Access}", "{type: goto_flow, flow: m365-outlook-password-loop}"), 23, "goto_flow jumps to this same flow"),
]  # fmt: skip


@pytest.mark.parametrize(("text", "line", "words"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_each_fault_is_reported_at_its_line(text: str, line: int, words: str) -> None:
    checked = validate(text, file="flows/outlook.yaml")
    assert checked.flow is None
    reported = [str(f) for f in checked.faults]
    assert any(r.startswith(f"flows/outlook.yaml:{line}: ") and words in r for r in reported), reported


def test_every_fault_is_reported_at_once() -> None:
    text = (
        _with('{label: "No", next: tier2}', '{label: "' + "N" * 80 + '", next: tier9}')
        .replace("start: owa", "start: owa\nstart: again")
        .replace("    type: question\n", "    type: question\n    colour: red\n")
    )
    problems = [f.problem for f in validate(text, file="f.yaml").faults]
    assert len(problems) == 5, problems
    for words in (
        "written twice",
        "unknown field",
        "label is 80",
        "unknown node 'tier9'",
        "'tier2' is never",
    ):
        assert any(words in p for p in problems), (words, problems)
    # Sorted by line, as an editor lists them.
    lines = [f.line for f in validate(text, file="f.yaml").faults]
    assert lines == sorted(lines)


def test_json_is_read_too() -> None:
    checked = validate(json.dumps(yaml.safe_load(GOOD), indent=2), file="flow.json")
    assert checked.ok and checked.flow is not None
    assert checked.flow.nodes.keys() == {"owa", "creds", "fixed", "explore", "tier2"}


def test_aliases_cannot_blow_the_document_up() -> None:
    bomb = 'a: &a ["x","x","x","x","x","x","x","x","x"]\n'
    for i in range(1, 8):
        bomb += f"{chr(97 + i)}: &{chr(97 + i)} [" + ",".join([f"*{chr(96 + i)}"] * 9) + "]\n"
    faults = validate(bomb, file="bomb.yaml").faults
    assert [f.problem for f in faults] == ["the document has more than 50,000 values (aliases expanded)"]


HOSTILE = [
    ("an impossible date", "date: 2001-02-30\n", "not a valid value"),
    ("nesting without end", "a: " + "[" * 5000 + "]" * 5000 + "\n", "nested more than"),
    ("an alias inside itself", "a: &a [*a]\n", "alias refers to a value that contains it"),
    ("a Python object tag", "a: !!python/object/apply:os.system [ls]\n", "not valid YAML"),
    ("a NUL character", '{"title": "a\\u0000b"}', "holds a NUL"),
]


@pytest.mark.parametrize(("text", "words"), [c[1:] for c in HOSTILE], ids=[c[0] for c in HOSTILE])
def test_hostile_documents_are_faults_not_crashes(text: str, words: str) -> None:
    faults = [str(f) for f in validate(text, file="x.yaml").faults]
    assert any(words in f for f in faults), faults


@settings(max_examples=300, deadline=None, suppress_health_check=list(HealthCheck))
@given(st.text(max_size=400) | st.builds(lambda s: GOOD[: len(GOOD) // 2] + s, st.text(max_size=60)))
def test_any_text_is_validated_without_an_exception(text: str) -> None:
    checked = validate(text, file="f.yaml")
    assert checked.ok == (checked.flow is not None)
    assert all(f.line >= 1 and f.problem for f in checked.faults)


_scalars = st.none() | st.booleans() | st.integers() | st.text(max_size=20)
_values = st.recursive(
    _scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=20,
)


@settings(max_examples=300, deadline=None, suppress_health_check=list(HealthCheck))
@given(field=st.sampled_from(["title", "start", "nodes", "match", "clients", "schema"]), value=_values)
def test_a_flow_with_any_field_replaced_is_validated_without_an_exception(field: str, value: object) -> None:
    data = yaml.safe_load(GOOD)
    data[field] = value
    checked = validate(json.dumps(data), file="f.json")
    assert checked.ok == (checked.flow is not None)
