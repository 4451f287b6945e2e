"""Where Centwise's bundled data files (price table, default config, icons, ...) live.

They sit in the top-level ``resources/`` folder of the source tree, which setuptools
installs as the package ``core.bundled`` (``[tool.setuptools.package-dir]`` in
``pyproject.toml``): the same name in a wheel, an sdist's wheel, an editable install
and the PyInstaller bundle (``packaging/centwise.spec``), found through
``importlib.resources``, never by a path relative to the source checkout.
"""

from __future__ import annotations

import atexit
import os
from contextlib import ExitStack
from functools import cache
from importlib.resources import as_file, files
from importlib.resources.abc import Traversable
from pathlib import Path

__all__ = ["BUNDLED_PACKAGE", "RESOURCES_ENV", "resource_path"]

RESOURCES_ENV = "CENTWISE_RESOURCES"
BUNDLED_PACKAGE = "core.bundled"

# Files copied out of a zip import live until the process ends.
_extracted = ExitStack()
atexit.register(_extracted.close)


def resource_path(name: str) -> Path:
    """Path of bundled resource ``name`` (``"model_prices.json"``, ``"icons/centwise.svg"``):
    under ``$CENTWISE_RESOURCES`` when set, else in the installed ``core.bundled``
    package. The file may not exist."""
    base = os.environ.get(RESOURCES_ENV)
    if base:
        return Path(base).expanduser() / name
    return _bundled_path(name)


@cache
def _bundled_path(name: str) -> Path:
    """``name`` in ``core.bundled`` as a file on disk: a plain path for an installed
    package, a temporary copy when Centwise is imported from a zip."""
    resource = _bundled_root().joinpath(name)
    if isinstance(resource, Path):
        return resource
    if not resource.is_file():
        return Path(str(resource))  # not there: callers report the missing file
    return _extracted.enter_context(as_file(resource))


def _bundled_root() -> Traversable:
    """The ``core.bundled`` package's files; if it cannot be imported, the ``bundled``
    folder inside ``core``, where a wheel and the bundle lay the files out (when they are
    not there either, callers report a missing file at that place)."""
    try:
        return files(BUNDLED_PACKAGE)
    except ModuleNotFoundError as e:
        if e.name != BUNDLED_PACKAGE:
            raise
        return files("core").joinpath("bundled")
