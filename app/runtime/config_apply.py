"""Writing a config the user confirmed, then re-opening the engine with it.

Settings (Save) and What if… (Apply) do the same thing: write the TOML atomically,
tell the view it was written, and re-open the engine on the bridge so the new
settings take effect without a restart. This is that one path.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from app.runtime.app_engine import EngineOpener
from app.runtime.config_file import config_text, write_atomically
from app.runtime.engine_bridge import EngineBridge
from app.runtime.error_text import describe_error
from core.config import CentwiseConfig
from core.engine import Engine

__all__ = ["write_and_reopen"]


def write_and_reopen(
    bridge: EngineBridge,
    path: Path,
    config: CentwiseConfig,
    open_engine: EngineOpener | None,
    *,
    report: Callable[[str], None],
    on_written: Callable[[], None],
    on_reopened: Callable[[Engine], None],
    failed_word: str = "saved",
) -> bool:
    """Write ``config`` to ``path``; on success call ``on_written`` and re-open the
    engine off the UI thread (``on_reopened`` gets the new one). ``report`` shows each
    step to the user. False when the file could not be written."""
    try:
        write_atomically(path, config_text(config))
    except OSError as e:
        report(f"✗ Not {failed_word}: {describe_error(e)}")
        return False
    on_written()
    if open_engine is None:
        report(f"Saved to {path}. Restart Centwise to apply it.")
        return True
    report(f"Saved to {path}. Applying…")

    def failed(error: BaseException) -> None:
        report(
            f"Saved, but the engine could not re-open with it ({describe_error(error)}); "
            "the previous settings stay in use until a restart."
        )

    bridge.reopen(lambda: open_engine(config), on_result=on_reopened, on_error=failed)
    return True
