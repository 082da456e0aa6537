"""Autotask's picklists, read from the instance (`{Entity}/entityInformation/fields`) and kept for the connector's life.

Statuses, queues, priorities, note types and publish options are per-instance lists of {value, label}; an
administrator renames and adds them, so FlowPilot finds each by its label.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterable
from typing import Any

from adapters.psa.http import Call, as_list, msg_unknown_name, text_of
from bot.psa import NoteKind, PsaBadRequest

NAME = "Autotask"
Fields = dict[str, list[dict[str, Any]]]  # field name → its active picklist values
_FRIENDLY = {"noteType": "note type", "publish": "publish option", "queueID": "queue"}


class Picklists:
    """The picklist fields of an entity, read once per connector."""

    def __init__(self, get: Callable[[str, Call], Awaitable[dict[str, Any]]]) -> None:
        self._get = get
        self._fields: dict[str, Fields] = {}
        self._lock = asyncio.Lock()

    async def of(self, entity: str) -> Fields:
        async with self._lock:
            if entity not in self._fields:
                what = f"read the {entity} fields"
                answer = await self._get(f"/{entity}/entityInformation/fields", Call(what))
                self._fields[entity] = {
                    str(f["name"]): [
                        v for v in as_list(f.get("picklistValues"), psa=NAME, what=what) if _usable(v)
                    ]
                    for f in as_list(answer.get("fields"), psa=NAME, what=what)
                    if f.get("isPickList") and isinstance(f.get("name"), str)
                }
            return self._fields[entity]

    async def labels(self, entity: str, names: Iterable[str]) -> dict[str, dict[str, str]]:
        """For each field, its labels by value ("1" → "New")."""
        fields = await self.of(entity)
        return {name: {str(v["value"]): str(v["label"]) for v in fields.get(name, [])} for name in names}

    @staticmethod
    def value_named(fields: Fields, field: str, label: str) -> int:
        """The value whose label is `label` (ignoring case); a PsaBadRequest listing the labels if none is."""
        wanted = label.strip().casefold()
        for value in fields.get(field, []):
            if str(value["label"]).strip().casefold() == wanted:
                return int(value["value"])
        known = [str(v["label"]) for v in fields.get(field, [])]
        raise PsaBadRequest(msg_unknown_name(NAME, _FRIENDLY.get(field, field), label, known))


def note_marks(fields: Fields, kind: NoteKind) -> dict[str, int]:
    """noteType and publish for a note of `kind`, from this instance's picklists.

    Internal and resolution notes are published to internal users only; a public one to all Autotask users
    (which the client portal shows). A resolution takes the note type named like "Resolution" where the
    instance has one; otherwise every note takes the instance's default note type.
    """
    types = fields.get("noteType", [])
    note_type = _containing(types, "resolution") if kind == "resolution" else None
    note_type = note_type if note_type is not None else _default(types)
    publish = fields.get("publish", [])
    wanted = ("all autotask users", "public", "all") if kind == "public" else ("internal only", "internal")
    publish_value = next((v for needle in wanted if (v := _containing(publish, needle)) is not None), None)
    if note_type is None or publish_value is None:
        field, known = ("noteType", types) if note_type is None else ("publish", publish)
        labels = ", ".join(str(v["label"]) for v in known) or "none"
        raise PsaBadRequest(
            f"Autotask has no {_FRIENDLY[field]} FlowPilot can use for a {kind} note; it has: {labels}."
        )
    return {"noteType": note_type, "publish": publish_value}


def _usable(value: dict[str, Any]) -> bool:
    return (
        value.get("isActive", True) is not False
        and text_of(value.get("label")) is not None
        and _is_int(value)
    )


def _is_int(value: dict[str, Any]) -> bool:
    try:
        int(value.get("value"))  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return False
    return True


def _containing(values: list[dict[str, Any]], needle: str) -> int | None:
    for value in values:
        if needle in str(value["label"]).casefold():
            return int(value["value"])
    return None


def _default(values: list[dict[str, Any]]) -> int | None:
    for value in values:
        if value.get("isDefaultValue"):
            return int(value["value"])
    return int(values[0]["value"]) if values else None
