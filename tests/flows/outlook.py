"""The flows the run tests follow: DESIGN.md's Outlook example and the account-lockout flow it jumps to."""

from __future__ import annotations

from bot.flows.library import FlowLibrary
from bot.flows.model import Flow

OUTLOOK = Flow.model_validate(
    {
        "schema": "flowpilot.flow/1",
        "id": "m365-outlook-password-loop",
        "title": "Outlook keeps prompting for password",
        "domain": "m365",
        "match": {
            "triggers": ["Outlook desktop repeatedly asks for the user's password"],
            "keywords": ["outlook", "password", "prompt", "credential"],
        },
        "start": "owa",
        "nodes": {
            "owa": {
                "type": "question",
                "text": "Does Outlook on the web work?",
                "options": [
                    {
                        "label": "Yes",
                        "next": "creds",
                        "evidence": {"text": "OWA works", "status": "confirmed"},
                    },
                    {"label": "No", "next": "acct"},
                ],
            },
            "creds": {
                "type": "action",
                "text": "Clear MicrosoftOffice16 entries in Credential Manager",
                "command": "cmdkey /list | findstr MicrosoftOffice16",
                "next": {"done": "fixed", "didnt_work": "explore"},
            },
            "acct": {
                "type": "question",
                "text": "What does Outlook on the web say?",
                "options": [
                    {"label": "Account locked or disabled", "next": "locked"},
                    {"label": "Mailbox error", "next": "tier2"},
                ],
            },
            "locked": {"type": "goto_flow", "flow": "m365-account-locked"},
            "fixed": {"type": "resolution", "root_cause": "Stale cached Office credentials"},
            "explore": {"type": "ai", "hint": "Consider Conditional Access and token protection"},
            "tier2": {"type": "escalate", "team": "Tier 2", "reason": "Mailbox-level issue"},
        },
    }
)
LOCKED = Flow.model_validate(
    {
        "schema": "flowpilot.flow/1",
        "id": "m365-account-locked",
        "title": "Microsoft 365 account locked",
        "domain": "m365",
        "start": "signin",
        "nodes": {
            "signin": {
                "type": "question",
                "text": "Do the Entra sign-in logs show failures from an unknown location?",
                "options": [
                    {
                        "label": "Yes",
                        "next": "sec",
                        "evidence": {"text": "Foreign sign-ins", "status": "confirmed"},
                    },
                    {"label": "No", "next": "unlock"},
                ],
            },
            "sec": {"type": "escalate", "team": "Security", "reason": "Possible account compromise"},
            "unlock": {"type": "resolution", "root_cause": "Lockout from a stale password on a phone"},
        },
    }
)


async def load(library: FlowLibrary) -> None:
    for flow in (OUTLOOK, LOCKED):
        await library.save(flow, source=flow.id)
