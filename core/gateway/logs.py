"""Structured JSON logs for the gateway: one object per line, with the request id.

Prompts and responses are left out unless ``[gateway] log_prompts`` is on. Secrets
(provider keys and the gateway token) are redacted from the *whole formatted line*,
so no field can carry one out, whatever is logged.
"""

from __future__ import annotations

import json
import logging
import re
import time
from collections.abc import Callable, Iterable
from typing import Any

from core.keys import secret_values
from core.money import usd_str
from core.types import RequestRecord

__all__ = ["LOGGER_NAME", "JsonFormatter", "request_log_fields"]

LOGGER_NAME = "core.gateway"


class JsonFormatter(logging.Formatter):
    """``{"ts", "level", "logger", "msg", ...fields}``; ``fields`` come from ``extra=``."""

    def __init__(self, secrets: Callable[[], Iterable[str]] = lambda: ()) -> None:
        super().__init__()
        self._secrets = secrets
        # The redaction pattern, rebuilt only when the set of secrets changes.
        self._known: tuple[object, ...] | None = None
        self._pattern: re.Pattern[str] | None = None

    def _redact(self, text: str) -> str:
        """:func:`core.keys.redact`, with the compiled pattern kept between lines."""
        secrets = tuple(self._secrets())
        if secrets != self._known:
            patterns = secret_values(secrets)  # type: ignore[arg-type]
            self._pattern = re.compile("|".join(map(re.escape, patterns))) if patterns else None
            self._known = secrets
        if self._pattern is None or not text:
            return text
        return self._pattern.sub("***", text)

    def format(self, record: logging.LogRecord) -> str:
        out: dict[str, Any] = {
            "ts": round(record.created, 3),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        fields = getattr(record, "fields", None)
        if isinstance(fields, dict):
            out.update(fields)
        if record.exc_info:
            out["exc"] = self.formatException(record.exc_info)
        return self._redact(json.dumps(out, ensure_ascii=False, default=str))


def request_log_fields(
    rec: RequestRecord | None,
    *,
    request_id: str,
    path: str,
    status: int,
    started: float,
    log_prompts: bool,
) -> dict[str, Any]:
    """What one gateway request's log line says (never the text unless asked)."""
    fields: dict[str, Any] = {
        "request_id": request_id,
        "path": path,
        "http_status": status,
        "duration_ms": round((time.perf_counter() - started) * 1000, 3),
    }
    if rec is not None:
        fields.update(
            tier=rec.tier,
            model=rec.model,
            provider=rec.provider,
            status=rec.status,
            cache=rec.cache_outcome,
            cost_usd=usd_str(rec.cost_usd),
            input_tokens=rec.usage.input_tokens,
            output_tokens=rec.usage.output_tokens,
            latency_ms=rec.latency_ms,
            ttft_ms=rec.ttft_ms,
            error_kind=rec.error_kind,
        )
        if log_prompts:
            fields.update(system=rec.system, prompt=rec.prompt, response=rec.response)
    return fields
