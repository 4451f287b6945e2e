"""Writing calibrated tier boundaries into the config TOML, changing nothing else.

A careful minimal writer rather than a TOML round-tripper: it finds each
``[[routing.tiers]]`` block, and within it the ``id`` and ``max_complexity`` lines,
and replaces only the number (keeping spacing and comments). A file whose tiers are
the built-in defaults (no ``[[routing.tiers]]``) gets the tiers appended. The result
is parsed and validated before the file is atomically replaced; anything it cannot
edit safely (e.g. an inline ``tiers = [...]`` array) is an error, not a guess.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from core.config import CentwiseConfig, parse_config
from core.errors import ConfigError

__all__ = ["set_tier_boundaries", "write_tier_boundaries"]

_HEADER = re.compile(r"^\s*\[\[?\s*([A-Za-z0-9_.\"' -]+?)\s*\]\]?\s*(#.*)?$")
_TIERS_HEADER = re.compile(r"^\s*\[\[\s*routing\s*\.\s*tiers\s*\]\]\s*(#.*)?$")
_ID = re.compile(r"""^\s*id\s*=\s*["']([^"']+)["']""")
_MAX = re.compile(r"^(\s*max_complexity\s*=\s*)([0-9.eE+-]+)(.*)$")
_INLINE_TIERS = re.compile(r"^\s*tiers\s*=")


def _fmt(value: float) -> str:
    return repr(round(float(value), 3))


def set_tier_boundaries(
    text: str, boundaries: dict[str, float], config: CentwiseConfig, source: str = "config"
) -> str:
    """``text`` with each named tier's ``max_complexity`` set; validated."""
    lines = text.splitlines(keepends=True)
    blocks = _tier_blocks(lines, source)
    if not blocks:
        out = (
            text
            + ("" if text.endswith("\n") or not text else "\n")
            + _tiers_toml(config, boundaries)
        )
    else:
        done: set[str] = set()
        for start, end in blocks:
            tier_id, max_line = _read_block(lines, start, end)
            if tier_id in boundaries and max_line is not None:
                m = _MAX.match(lines[max_line])
                assert m is not None
                eol = "\n" if lines[max_line].endswith("\n") else ""
                lines[max_line] = m.group(1) + _fmt(boundaries[tier_id]) + m.group(3) + eol
                done.add(tier_id)
        missing = set(boundaries) - done
        if missing:
            raise ConfigError(f"{source}: no [[routing.tiers]] entry for {sorted(missing)}")
        out = "".join(lines)
    parse_config(out, source)  # never write a file that would not load
    return out


def _tier_blocks(lines: list[str], source: str) -> list[tuple[int, int]]:
    blocks: list[tuple[int, int]] = []
    section = ""
    start: int | None = None
    for i, line in enumerate(lines):
        header = _HEADER.match(line)
        if header:
            if start is not None:
                blocks.append((start, i))
                start = None
            section = header.group(1).replace(" ", "")
            if _TIERS_HEADER.match(line):
                start = i
        elif section == "routing" and _INLINE_TIERS.match(line):
            raise ConfigError(
                f"{source}: [routing] tiers is an inline array; edit max_complexity by hand"
            )
    if start is not None:
        blocks.append((start, len(lines)))
    return blocks


def _read_block(lines: list[str], start: int, end: int) -> tuple[str | None, int | None]:
    tier_id, max_line = None, None
    for i in range(start + 1, end):
        if (m := _ID.match(lines[i])) is not None:
            tier_id = m.group(1)
        elif _MAX.match(lines[i]):
            max_line = i
    return tier_id, max_line


def _tiers_toml(config: CentwiseConfig, boundaries: dict[str, float]) -> str:
    out = ["\n# Tier boundaries written by `centwise route calibrate --write`.\n"]
    for t in config.routing.tiers:
        bound = boundaries.get(t.id, t.max_complexity)
        out.append(
            f'[[routing.tiers]]\nid = "{t.id}"\nprovider = "{t.provider}"\n'
            f'model = "{t.model}"\nmax_complexity = {_fmt(bound)}\n'
        )
        for f in t.fallbacks:
            out.append(
                f'[[routing.tiers.fallbacks]]\nprovider = "{f.provider}"\nmodel = "{f.model}"\n'
            )
        out.append("\n")
    return "".join(out)


def write_tier_boundaries(path: Path, boundaries: dict[str, float], config: CentwiseConfig) -> str:
    """Edit ``path`` in place (atomically); returns the new text."""
    try:
        text = path.read_text("utf-8") if path.exists() else ""
    except OSError as e:
        raise ConfigError(f"{path}: cannot read config: {e.strerror}") from None
    new = set_tier_boundaries(text, boundaries, config, str(path))
    tmp = path.with_name(path.name + ".centwise-tmp")
    tmp.write_text(new, "utf-8")
    os.replace(tmp, path)
    return new
