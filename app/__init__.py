"""The Centwise desktop app (Qt). It drives :class:`core.engine.Engine` through
:class:`app.runtime.engine_bridge.EngineBridge` only; ``core`` never imports anything here."""

__all__ = ["run_app"]


def run_app(*args: object, **kwargs: object) -> int:
    """Lazy entry point so ``import app`` does not load Qt."""
    from app.main import run_app as _run

    return _run(*args, **kwargs)  # type: ignore[arg-type]
