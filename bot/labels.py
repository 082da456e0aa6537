"""Header values in the words people use: one mapping for every surface (Slack, Teams, the shell).

Claude (or an engineer) may set the category as a slug (`m365`, `active_directory`); the header shows
"Microsoft 365", "Active Directory". The confidence reads "Guided · 85%", not `guided (85%)`.
What is stored is never changed: these are only the words shown.
"""

from __future__ import annotations

import re

# Words of a slug that are not simply capitalised.
WORDS = {
    "m365": "Microsoft 365",
    "o365": "Microsoft 365",
    "office365": "Microsoft 365",
    "ms365": "Microsoft 365",
    "ad": "Active Directory",
    "aad": "Entra ID",
    "entra": "Entra ID",
    "ms": "Microsoft",
    "ios": "iOS",
    "macos": "macOS",
    "onedrive": "OneDrive",
    "sharepoint": "SharePoint",
    "intune": "Intune",
    "teams": "Teams",
    "id": "ID",
}
# Whole slugs whose words are not the words of their parts.
CATEGORIES = {
    "active_directory": "Active Directory",
    "entra_id": "Entra ID",
    "azure_ad": "Entra ID",
    "microsoft_365": "Microsoft 365",
    "office_365": "Microsoft 365",
    "email": "Email",
    "general": "General",
}
# Short words written in capitals (VPN, DNS…).
ACRONYMS = frozenset(
    {"vpn", "dns", "dhcp", "mfa", "sso", "lan", "wan", "wifi", "rdp", "rmm", "psa", "gpo", "os", "ip", "it"}
)
TIERS = {"guided": "Guided", "exploring": "Exploring", "discovery": "Discovery"}

_SLUG = re.compile(r"[a-z0-9]+(?:[_\-.][a-z0-9]+)*")


def category(value: str | None) -> str | None:
    """`m365` -> "Microsoft 365", `active_directory` -> "Active Directory"; words already written stay."""
    if value is None or not value.strip():
        return None
    text = value.strip()
    if not _SLUG.fullmatch(text):
        return text
    if text in CATEGORIES:
        return CATEGORIES[text]
    return " ".join(_word(w) for w in re.split(r"[_\-.]", text))


def _word(word: str) -> str:
    if word in WORDS:
        return WORDS[word]
    if word in ACRONYMS:
        return word.upper()
    return word.capitalize()


def tier(value: str) -> str:
    """`guided` -> "Guided"."""
    return TIERS.get(value, value.replace("_", " ").capitalize())


def confidence(tier_value: str, score: float) -> str:
    """("guided", 0.85) -> "Guided · 85%"."""
    return f"{tier(tier_value)} · {round(score * 100)}%"
