"""The machine's CJK faces: Noto Sans and Serif CJK (``fonts-noto-cjk``),
found by their files. The evaluation set prints with them and the glyph
bank holds their characters' shapes."""

from __future__ import annotations

import glob
from functools import cache

from PIL import ImageFont

__all__ = ["find_font"]

_FONT_PATTERNS = (
    "/usr/share/fonts/opentype/noto/Noto{style}CJK-{weight}.ttc",
    "/usr/share/fonts/noto-cjk/Noto{style}CJK-{weight}.ttc",
    "/usr/share/fonts/**/Noto{style}CJK*-{weight}.ttc",
)


@cache
def find_font(style: str = "Sans", weight: str = "Regular") -> tuple[str, int]:
    """Path and face index of the Simplified Chinese face of Noto ``style``
    (Sans or Serif) CJK ``weight``; Noto Sans CJK Regular if that is absent."""
    for pattern in _FONT_PATTERNS:
        for path in sorted(
            glob.glob(pattern.format(style=style, weight=weight), recursive=True)
        ):
            for index in range(10):
                try:
                    name = ImageFont.truetype(path, 12, index=index).getname()[0]
                except OSError:
                    break
                if name and name.endswith(" SC"):
                    return path, index
    if (style, weight) != ("Sans", "Regular"):
        return find_font()
    raise FileNotFoundError("no Noto CJK font found (install fonts-noto-cjk)")
