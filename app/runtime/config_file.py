"""The app's config file: where it lives, TOML written from a config dict, atomic saves.

The path follows the CLI: ``--config`` or ``$CENTWISE_CONFIG`` when given, otherwise
``platformdirs.user_config_dir("centwise")/config.toml`` (read only if it exists).
Money stays exact: :class:`~decimal.Decimal` values are written digit for digit and
read back by :func:`core.config.parse_config` as decimals. No API key is ever part of
a config, so nothing written here can hold one.
"""

from __future__ import annotations

import json
import os
import re
import tempfile
from collections.abc import Mapping
from decimal import Decimal
from pathlib import Path
from typing import Any

from core.config import CentwiseConfig, config_from_env, default_config_path, load_config

__all__ = [
    "config_text",
    "config_to_toml",
    "default_config_path",
    "load_app_config",
    "resolve_config_path",
    "write_atomically",
]

_BARE_KEY = re.compile(r"^[A-Za-z0-9_-]+$")
HEADER = (
    "# Centwise configuration, saved by the desktop app (comments are not kept).\n"
    "# Every key is documented in resources/default_config.toml.\n"
)


def resolve_config_path(explicit: str | None) -> tuple[Path, bool]:
    """``(path, explicit)``: the --config/env path, else the default path."""
    if explicit or os.environ.get("CENTWISE_CONFIG"):
        chosen = config_from_env(explicit)
        assert chosen is not None
        return chosen, True
    return default_config_path(), False


def load_app_config(path: Path, explicit: bool) -> CentwiseConfig:
    """An explicit path must exist; the default one is used only when it does."""
    return load_config(path if explicit or path.exists() else None)


def write_atomically(path: Path, text: str) -> None:
    """Write ``text`` to a temp file beside ``path``, fsync it, then ``os.replace``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="\n") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


# -- TOML ----------------------------------------------------------------------------


def config_to_toml(data: Mapping[str, Any]) -> str:
    """TOML for a config dict (``CentwiseConfig.model_dump()`` shape, ``None`` = absent)."""
    lines: list[str] = []
    _table(data, [], lines)
    return HEADER + "\n".join(lines).strip() + "\n"


def _table(data: Mapping[str, Any], path: list[str], lines: list[str]) -> None:
    scalars = {k: v for k, v in data.items() if v is not None and not _is_table(v)}
    if scalars or (path and not any(_is_table(v) for v in data.values())):
        if path:
            lines.append("")
            lines.append(f"[{'.'.join(map(_key, path))}]")
        lines.extend(f"{_key(k)} = {_value(v)}" for k, v in scalars.items())
    for k, v in data.items():
        if isinstance(v, Mapping) and v:
            _table(v, [*path, k], lines)
        elif _is_table_array(v):
            for item in v:
                lines.append("")
                lines.append(f"[[{'.'.join(map(_key, [*path, k]))}]]")
                lines.extend(
                    f"{_key(ik)} = {_value(iv)}" for ik, iv in item.items() if iv is not None
                )


def _is_table(v: Any) -> bool:
    return (isinstance(v, Mapping) and bool(v)) or _is_table_array(v)


def _is_table_array(v: Any) -> bool:
    return isinstance(v, list | tuple) and bool(v) and all(isinstance(i, Mapping) for i in v)


def _key(k: str) -> str:
    return k if _BARE_KEY.match(k) else _string(k)


def _string(s: str) -> str:
    return json.dumps(s, ensure_ascii=False).replace("\x7f", "\\u007F")


def _value(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, Decimal):
        if not v.is_finite():
            raise ValueError(f"cannot write {v} as a TOML number")
        return format(v, "f")
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        return repr(v) if v == v and v not in (float("inf"), float("-inf")) else str(v)
    if isinstance(v, str):
        return _string(v)
    if isinstance(v, Mapping):
        inner = ", ".join(f"{_key(k)} = {_value(x)}" for k, x in v.items() if x is not None)
        return "{ " + inner + " }" if inner else "{}"
    if isinstance(v, list | tuple):
        return "[" + ", ".join(_value(x) for x in v) + "]"
    raise TypeError(f"cannot write {type(v).__name__} to TOML")


def config_text(config: CentwiseConfig) -> str:
    """The TOML the app saves for ``config``: only what differs from the defaults
    (plus ``schema_version``), checked to read back as the same config."""
    from core.config import parse_config

    minimal = {"schema_version": config.schema_version}
    minimal.update(config.model_dump(mode="python", exclude_defaults=True, exclude_none=True))
    text = config_to_toml(minimal)
    if parse_config(text) == config:
        return text
    return config_to_toml(config.model_dump(mode="python", exclude_none=True))
