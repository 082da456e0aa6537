"""The draft of issue 17's failing case: fields that read like headings, and a recommendations paragraph."""

from __future__ import annotations

from typing import Any

# Claude wrote its fields the way the old parser mis-filed: a "Root cause:" label inside the root cause and
# a paragraph of recommendations that used to become one more step.
ISSUE_DRAFT: dict[str, Any] = {
    "root_cause": "Root cause: the VPN client certificate on LAP-7 had expired.",
    "steps_taken": [
        "Checked the VPN client log: certificate expired on 1 March.",
        "Renewed the certificate from the internal CA.",
    ],
    "recommendations": (
        "Recommendations: monitor certificate expiry for every laptop, "
        "and set a renewal reminder 30 days before expiry."
    ),
}
ROOT_CAUSE = ISSUE_DRAFT["root_cause"]
STEPS_TAKEN = (
    "1. Checked the VPN client log: certificate expired on 1 March.\n"
    "2. Renewed the certificate from the internal CA."
)
RECOMMENDATIONS = ISSUE_DRAFT["recommendations"]
