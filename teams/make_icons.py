"""Draw the Teams app icons (color.png 192×192, outline.png 32×32) with the standard library only.

Run `python teams/make_icons.py` after changing the drawing; the PNGs are committed beside this script.
"""

from __future__ import annotations

import struct
import sys
import zlib
from collections.abc import Callable
from pathlib import Path

Pixel = tuple[int, int, int, int]
BRAND = (0x25, 0x63, 0xEB, 0xFF)  # FlowPilot blue
WHITE = (0xFF, 0xFF, 0xFF, 0xFF)
CLEAR = (0, 0, 0, 0)


def png(width: int, height: int, pixel: Callable[[int, int], Pixel]) -> bytes:
    """An 8-bit RGBA PNG, one filter byte (0) per row."""
    rows = b"".join(b"\x00" + b"".join(bytes(pixel(x, y)) for x in range(width)) for y in range(height))

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", width, height, 8, 6, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(rows, 9))
        + chunk(b"IEND", b"")
    )


def _glyph(u: float, v: float) -> bool:
    """A bold "F" in a unit square (u right, v down)."""
    stem = 0.28 <= u <= 0.40 and 0.22 <= v <= 0.80
    top = 0.28 <= u <= 0.72 and 0.22 <= v <= 0.34
    middle = 0.28 <= u <= 0.62 and 0.46 <= v <= 0.57
    return stem or top or middle


def color(x: int, y: int, size: int = 192) -> Pixel:
    u, v = (x + 0.5) / size, (y + 0.5) / size
    return WHITE if _glyph(u, v) else BRAND


def outline(x: int, y: int, size: int = 32) -> Pixel:
    # Teams wants white on transparent for the outline icon.
    u, v = (x + 0.5) / size, (y + 0.5) / size
    return WHITE if _glyph(u, v) else CLEAR


def main(folder: Path) -> None:
    (folder / "color.png").write_bytes(png(192, 192, color))
    (folder / "outline.png").write_bytes(png(32, 32, outline))


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).parent)
