"""The Teams app package: teams/manifest.json with the bot's id filled in, and the two icons, in one zip."""

from __future__ import annotations

import json
import uuid
import zipfile
from pathlib import Path

# The manifest and icons live at the top of the repository, beside the code that serves them.
SOURCE = Path(__file__).resolve().parents[2] / "teams"
FILES = ("manifest.json", "color.png", "outline.png")


def manifest_for(app_id: str, *, source: Path = SOURCE) -> dict[str, object]:
    """The manifest with `app_id` as the app's and the bot's id (Teams wants a GUID for both)."""
    try:
        app_id = str(uuid.UUID(app_id))
    except ValueError:
        raise ValueError(f"'{app_id}' is not a Microsoft app id (a GUID)") from None
    manifest = json.loads((source / "manifest.json").read_text(encoding="utf-8"))
    manifest["id"] = app_id
    for bot in manifest.get("bots", []):
        bot["botId"] = app_id
    return manifest  # type: ignore[no-any-return]


def build(app_id: str, output: Path, *, source: Path = SOURCE) -> Path:
    """Write the app zip to `output` (sideload it in Teams: Apps › Manage your apps › Upload an app)."""
    manifest = manifest_for(app_id, source=source)
    output.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(output, "w", compression=zipfile.ZIP_DEFLATED) as package:
        package.writestr("manifest.json", json.dumps(manifest, indent=2, ensure_ascii=False))
        for name in FILES[1:]:
            package.write(source / name, arcname=name)
    return output
