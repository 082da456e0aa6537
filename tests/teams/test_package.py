"""`flowpilot teams-package`: the zip Teams accepts, with the bot id filled in and the icons it asks for."""

from __future__ import annotations

import json
import struct
import zipfile
import zlib
from pathlib import Path

import pytest

from adapters.cli import main
from adapters.teams.package import SOURCE

APP_ID = "b0770000-1111-4222-8333-444455556666"
COMMANDS = {"resolve", "escalate", "pause", "resume", "status", "list", "help"}


def png_pixels(data: bytes) -> tuple[int, int, list[bytes]]:
    """Width, height and the RGBA rows of an unfiltered 8-bit RGBA PNG (what make_icons writes)."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    width, height, depth, color_type = struct.unpack(">IIBB", data[16:26])
    assert (depth, color_type) == (8, 6)
    idat, offset = b"", 8
    while offset < len(data):
        (length,) = struct.unpack(">I", data[offset : offset + 4])
        if data[offset + 4 : offset + 8] == b"IDAT":
            idat += data[offset + 8 : offset + 8 + length]
        offset += 12 + length
    raw = zlib.decompress(idat)
    stride = 1 + 4 * width
    return width, height, [raw[y * stride + 1 : (y + 1) * stride] for y in range(height)]


def test_the_package_holds_the_manifest_with_the_bot_id_and_both_icons(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    output = tmp_path / "app.zip"
    assert main(["teams-package", "--app-id", APP_ID, "--output", str(output)]) == 0
    assert "Upload an app" in capsys.readouterr().out
    with zipfile.ZipFile(output) as package:
        assert sorted(package.namelist()) == ["color.png", "manifest.json", "outline.png"]
        manifest = json.loads(package.read("manifest.json"))
        color = png_pixels(package.read("color.png"))
        outline = png_pixels(package.read("outline.png"))

    assert manifest["id"] == APP_ID
    [bot] = manifest["bots"]
    assert bot["botId"] == APP_ID
    assert set(bot["scopes"]) == {"personal", "team", "groupChat"}
    listed = {c["title"] for commands in bot["commandLists"] for c in commands["commands"]}
    assert listed == COMMANDS
    assert manifest["icons"] == {"color": "color.png", "outline": "outline.png"}

    assert color[:2] == (192, 192)
    assert outline[:2] == (32, 32)
    pixels = [row[i : i + 4] for row in outline[2] for i in range(0, len(row), 4)]
    # The outline icon is white on a transparent background, nothing else.
    assert {p for p in pixels if p[3]} == {b"\xff\xff\xff\xff"}
    assert any(p[3] == 0 for p in pixels)


def test_the_committed_icons_are_what_the_script_draws(tmp_path: Path) -> None:
    from teams.make_icons import main as draw

    draw(tmp_path)
    for name in ("color.png", "outline.png"):
        assert (tmp_path / name).read_bytes() == (SOURCE / name).read_bytes()


def test_without_an_app_id_the_command_says_what_to_set(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("CONNECTIONS__SERVICE_CONNECTION__SETTINGS__CLIENTID", raising=False)
    assert main(["teams-package", "--output", str(tmp_path / "app.zip")]) == 2
    assert "--app-id" in capsys.readouterr().err
    assert main(["teams-package", "--app-id", "not-a-guid", "--output", str(tmp_path / "x.zip")]) == 2
    assert "GUID" in capsys.readouterr().err
    assert not list(tmp_path.iterdir())
