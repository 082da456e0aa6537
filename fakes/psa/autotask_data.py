"""The fake Autotask's picklists, its entityInformation/fields answer and its query filter."""

from __future__ import annotations

from typing import Any


def _values(
    *pairs: tuple[int, str], default: int | None = None, inactive: tuple[int, ...] = ()
) -> list[dict[str, Any]]:
    return [
        {
            "value": str(value),
            "label": label,
            "isDefaultValue": value == default,
            "sortOrder": order,
            "parentValue": "",
            "isActive": value not in inactive,
            "isSystem": value < 100,
        }
        for order, (value, label) in enumerate(pairs)
    ]


# Values differ from any real instance on purpose: a client that hard-codes ids fails against this fake.
PICKLISTS: dict[str, dict[str, list[dict[str, Any]]]] = {
    "Tickets": {
        "status": _values(
            (1, "New"),
            (8, "In Progress"),
            (7, "Waiting Customer"),
            (120, "Resolved"),
            (5, "Complete"),
            (121, "Legacy Closed"),
            default=1,
            inactive=(121,),
        ),
        "priority": _values((4, "Critical"), (1, "High"), (2, "Medium"), (3, "Low"), default=2),
        "queueID": _values((29682833, "Service Desk"), (29682969, "Monitoring Alert")),
    },
    "TicketNotes": {
        "noteType": _values(
            (101, "Task Summary"),
            (102, "Task Notes"),
            (103, "Ticket Resolution"),
            (113, "Workflow Rule Note"),
            default=102,
        ),
        "publish": _values(
            (1, "All Autotask Users"), (2, "Internal Only"), (4, "Internal & Co-Managed"), default=2
        ),
    },
}


def entity_fields(picklists: dict[str, list[dict[str, Any]]]) -> list[dict[str, Any]]:
    """The `fields` of entityInformation/fields: the picklists, and a plain text field as the real answer has."""
    fields = [
        {
            "name": name,
            "dataType": "integer",
            "length": 0,
            "isRequired": name in ("status", "priority", "noteType", "publish"),
            "isReadOnly": False,
            "isQueryable": True,
            "isReference": False,
            "referenceEntityType": "",
            "isPickList": True,
            "picklistValues": values,
            "picklistParentValueField": "",
            "isSupportedWebhookField": True,
        }
        for name, values in picklists.items()
    ]
    fields.append(
        {"name": "title", "dataType": "string", "length": 255, "isPickList": False, "picklistValues": None}
    )
    return fields


def matches(row: dict[str, Any], condition: Any) -> bool:
    """Whether a row passes one Autotask query condition (field names are case-insensitive, as in Autotask)."""
    if not isinstance(condition, dict):
        raise ValueError("A filter condition must be an object.")
    op = str(condition.get("op", "")).lower()
    if op in ("and", "or"):
        items = condition.get("items") or []
        results = [matches(row, item) for item in items]
        return all(results) if op == "and" else any(results)
    fields = {key.lower(): value for key, value in row.items()}
    field = str(condition.get("field", "")).lower()
    if field not in fields:
        raise ValueError(f"Unknown field {condition.get('field')}.")
    actual, wanted = fields[field], condition.get("value")
    if op == "eq":
        return _same(actual, wanted)
    if op == "noteq":
        return not _same(actual, wanted)
    if op == "in":
        return isinstance(wanted, list) and any(_same(actual, w) for w in wanted)
    if op == "contains":
        return str(wanted).lower() in str(actual or "").lower()
    if op == "beginswith":
        return str(actual or "").lower().startswith(str(wanted).lower())
    raise ValueError(f"Unsupported operator {condition.get('op')}.")


def _same(actual: Any, wanted: Any) -> bool:
    if isinstance(actual, str) and isinstance(wanted, str):
        return actual.lower() == wanted.lower()
    return str(actual) == str(wanted)
