"""The starter library (the `flows` package's YAML files): stocked at start, once per content.

Loading is idempotent by content hash: an unchanged file is never a new version. A starter flow serves every
account; an account hides one it does not want or imports its own under the same slug, and a starter flow an
engineer re-imported with changes is left alone by later starts (FlowLibrary.save, origin "starter").
"""

from __future__ import annotations

import logging
from importlib import resources

from .library import FlowLibrary, Imported
from .validate import Fault, validate

logger = logging.getLogger(__name__)

PACKAGE = "flows"


def starter_files() -> list[tuple[str, str]]:
    """(file name, text) of every starter flow, in name order."""
    root = resources.files(PACKAGE)
    files = [f for f in root.iterdir() if f.name.endswith(".yaml")]
    return [(f"flows/{f.name}", f.read_text(encoding="utf-8")) for f in sorted(files, key=lambda f: f.name)]


async def stock(library: FlowLibrary) -> list[Imported]:
    """Store the starter flows that are new or changed since the last start; returns those stored."""
    stored: list[Imported] = []
    faults: list[Fault] = []
    for name, text in starter_files():
        checked = validate(text, file=name)
        if checked.flow is None:
            faults += checked.faults
            continue
        result = await library.save(checked.flow, source=text, origin="starter")
        if result.changed:
            stored.append(result)
    for fault in faults:  # CI validates every starter file: this is a broken install
        logger.error("starter flow not loaded: %s", fault)
    if stored:
        logger.info("starter flows stored: %s", ", ".join(f"{i.ref.slug} v{i.ref.version}" for i in stored))
    return stored
