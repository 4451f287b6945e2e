"""Where a replay's history comes from: the ledger, or an imported JSONL file.

Both give :class:`~core.types.RequestRecord` objects in time order, so the rest of the
replay never knows which it was. Stored cache embeddings are looked up by request id
in ``cache.sqlite`` (each cached entry keeps the request that paid for it).

The import format, one JSON object per line (every key but ``prompt`` optional)::

    {"prompt": "...", "system": "...", "response": "...", "timestamp": "2026-11-02T09:30:00Z",
     "model": "gpt-4.1-mini", "tier": "balanced", "input_tokens": 812, "output_tokens": 240,
     "cached_input_tokens": 0, "cost_usd": "0.000712", "purpose": "user",
     "conversation_id": "c1", "id": "row-17"}

``timestamp`` is ISO 8601 (no zone: local time) or epoch seconds; lines without one
keep file order, one millisecond apart, from the file's modification time. A line
without ``cost_usd`` is priced under the current configuration; without token counts
the tokens are counted with the model's tokenizer and marked estimated; without
``model`` or ``tier`` the current router picks the tier.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable, Iterator
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

import numpy as np

from core.errors import InputError
from core.ledger import Ledger
from core.money import from_pusd
from core.types import RequestRecord, Usage

__all__ = ["ImportedLine", "ledger_records", "read_import_file", "stored_embeddings"]

_KNOWN_KEYS = frozenset(
    {
        "prompt", "system", "response", "timestamp", "model", "tier", "input_tokens",
        "output_tokens", "cached_input_tokens", "cost_usd", "purpose", "conversation_id", "id",
    }
)  # fmt: skip


#: The ledger columns a replay reads (attempts, warnings and timings it does not).
_REPLAY_COLUMNS = (
    "request_id", "started_at", "finished_at", "purpose", "provider", "model", "tier",
    "route_score", "route_reasons", "route_mode", "cache_outcome", "input_tokens",
    "output_tokens", "cached_input_tokens", "cache_write_tokens", "reasoning_tokens",
    "usage_estimated", "cost_pusd", "cost_known", "saved_pusd", "status", "degraded",
    "prompt", "system", "response", "finish_reason", "conversation_id",
    "context_tokens_before", "context_tokens_after", "context_actions",
)  # fmt: skip
_BATCH = 5000


def ledger_records(ledger: Ledger, since: date | None) -> Iterator[RequestRecord]:
    """Every ledger record from the local date ``since``, oldest first (the order of
    :meth:`Ledger.iter_records`), with only the fields a replay reads: it reads a
    100,000-row ledger in about half the time. Read-only, in batches, on either backend."""
    if ledger.backend == "sqlite":
        return _file_records(ledger.path, since)
    return _paged_records(ledger, since)


def _file_records(path: Path, since: date | None) -> Iterator[RequestRecord]:
    """From the SQLite file, over a read-only connection of its own: the replay reads
    these rows a batch at a time while it loads conversations through the ledger, whose
    one connection stays locked for as long as a ``reading()`` block is open (held
    across the yields it would deadlock, and stall the app's other users of the ledger
    for the whole replay). ``mode=ro`` keeps the replay from writing, and the one read
    sees one snapshot of the file."""
    where, params = (" WHERE day >= ?", [since.isoformat()]) if since else ("", [])
    sql = f"SELECT {', '.join(_REPLAY_COLUMNS)} FROM requests{where} ORDER BY finished_at, rowid"
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        cursor = conn.execute(sql, params)
        while batch := cursor.fetchmany(_BATCH):
            yield from map(_record, batch)
    finally:
        conn.close()


def _paged_records(ledger: Ledger, since: date | None) -> Iterator[RequestRecord]:
    """From a shared database, a page at a time after the last ``(finished_at, rowid)``
    read, each page in a short ``reading()``: no pooled connection is held between
    pages, and no page holds more than :data:`_BATCH` rows in the driver. Rows recorded
    while the replay runs may join its end."""
    where, params = (["day >= ?"], [since.isoformat()]) if since else ([], [])
    head = f"SELECT {', '.join(_REPLAY_COLUMNS)}, rowid FROM requests"
    after: list[Any] = []
    while True:
        conds = [*where, "finished_at >= ? AND (finished_at > ? OR rowid > ?)"] if after else where
        sql = f"{head}{' WHERE ' + ' AND '.join(conds) if conds else ''}"
        sql += f" ORDER BY finished_at, rowid LIMIT {_BATCH}"
        with ledger.reading() as conn:
            batch = conn.execute(sql, [*params, *after]).fetchall()
        yield from map(_record, batch)
        if len(batch) < _BATCH:
            return
        last = batch[-1]
        after = [last[2], last[2], last[-1]]  # finished_at, finished_at, rowid


def _record(r: tuple[Any, ...]) -> RequestRecord:
    reasons = r[8]
    return RequestRecord(
        request_id=r[0], started_at=r[1], finished_at=r[2], purpose=r[3], provider=r[4],
        model=r[5], tier=r[6], route_score=r[7],
        route_reasons=json.loads(reasons) if reasons and reasons != "[]" else [],
        route_mode=r[9], cache_outcome=r[10], usage=Usage(r[11], r[12], r[13], r[14], r[15]),
        usage_estimated=bool(r[16]), cost_usd=None if r[17] is None else from_pusd(r[17]),
        cost_known=bool(r[18]), saved_usd=from_pusd(r[19]), status=r[20], degraded=bool(r[21]),
        prompt=r[22], system=r[23], response=r[24], finish_reason=r[25], conversation_id=r[26],
        context_tokens_before=r[27], context_tokens_after=r[28],
        context_actions=json.loads(r[29]) if r[29] and r[29] != "[]" else [],
    )  # fmt: skip


class ImportedLine:
    """One parsed import line: the record plus which figures the file did not give."""

    __slots__ = ("has_cost", "has_tokens", "record")

    def __init__(self, record: RequestRecord, has_tokens: bool, has_cost: bool) -> None:
        self.record = record
        self.has_tokens = has_tokens
        self.has_cost = has_cost


def read_import_file(path: Path, since: date | None) -> list[ImportedLine]:
    """Parse ``path`` (the format in this module's docstring), sorted by time."""
    try:
        text = path.read_text(encoding="utf-8")
        base = path.stat().st_mtime
    except FileNotFoundError:
        raise InputError(f"--from {path}: no such file") from None
    except (OSError, UnicodeDecodeError) as e:
        raise InputError(f"--from {path}: cannot read it ({e})") from None
    out: list[ImportedLine] = []
    for n, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            obj = json.loads(line, parse_float=Decimal)
        except json.JSONDecodeError as e:
            raise InputError(f"{path}:{n}: not valid JSON ({e.msg})") from None
        item = _parse_line(obj, f"{path}:{n}", base + n / 1000, n)
        if since is None or date.fromtimestamp(item.record.started_at) >= since:
            out.append(item)
    out.sort(key=lambda i: i.record.started_at)
    return out


def _parse_line(obj: object, where: str, default_t: float, n: int) -> ImportedLine:
    if not isinstance(obj, dict):
        raise InputError(f"{where}: expected a JSON object")
    unknown = sorted(set(obj) - _KNOWN_KEYS)
    if unknown:
        raise InputError(f"{where}: unknown key {unknown[0]!r}")
    prompt = obj.get("prompt")
    if not isinstance(prompt, str) or not prompt:
        raise InputError(f"{where}: 'prompt' must be non-empty text")
    t = _timestamp(obj.get("timestamp"), where, default_t)
    tokens = [_count(obj, k, where) for k in ("input_tokens", "output_tokens")]
    cached = _count(obj, "cached_input_tokens", where) or 0
    has_tokens = tokens[0] is not None and tokens[1] is not None
    usage = Usage(tokens[0] or 0, tokens[1] or 0, cached) if has_tokens else Usage()
    cost = _cost(obj.get("cost_usd"), where)
    rec = RequestRecord(
        request_id=str(obj.get("id") or f"import-{n}"),
        started_at=t,
        finished_at=t,
        purpose=_text(obj, "purpose", where) or "user",
        model=_text(obj, "model", where),
        tier=_text(obj, "tier", where),
        usage=usage,
        cost_usd=cost,
        cost_known=cost is not None,
        prompt=prompt,
        system=_text(obj, "system", where),
        response=_text(obj, "response", where) or "",
        finish_reason="stop",
        conversation_id=_text(obj, "conversation_id", where),
        route_mode="explicit" if obj.get("tier") or obj.get("model") else "auto",
    )
    return ImportedLine(rec, has_tokens, cost is not None)


def _text(obj: dict[str, object], key: str, where: str) -> str | None:
    v = obj.get(key)
    if v is None or isinstance(v, str):
        return v or None
    raise InputError(f"{where}: {key!r} must be text")


def _count(obj: dict[str, object], key: str, where: str) -> int | None:
    v = obj.get(key)
    if v is None:
        return None
    if isinstance(v, bool) or not isinstance(v, int) or v < 0:
        raise InputError(f"{where}: {key!r} must be a whole number >= 0")
    return v


def _cost(v: object, where: str) -> Decimal | None:
    if v is None:
        return None
    try:
        cost = Decimal(str(v)) if isinstance(v, str | int | Decimal) else None
    except InvalidOperation:
        cost = None
    if cost is None or isinstance(v, bool) or not cost.is_finite() or cost < 0:
        raise InputError(f"{where}: 'cost_usd' must be a decimal number of dollars >= 0")
    return cost


def _timestamp(v: object, where: str, default: float) -> float:
    if v is None:
        return default
    if isinstance(v, int | Decimal) and not isinstance(v, bool):
        return float(v)
    if isinstance(v, str):
        try:
            return datetime.fromisoformat(v.replace("Z", "+00:00")).timestamp()
        except ValueError:
            pass
    raise InputError(f"{where}: 'timestamp' must be ISO 8601 text or epoch seconds")


def stored_embeddings(
    cache_path: Path, request_ids: Iterable[str], dim: int
) -> dict[str, np.ndarray]:
    """The cache's stored float32 embeddings of ``request_ids`` (those it still holds)."""
    if not cache_path.exists():
        return {}
    wanted = set(request_ids)
    found: dict[str, np.ndarray] = {}
    uri = f"file:{cache_path}?mode=ro"
    try:
        conn = sqlite3.connect(uri, uri=True)
    except sqlite3.Error:
        return {}
    try:
        rows = conn.execute(
            "SELECT request_id, embedding FROM cache_entries WHERE request_id IS NOT NULL"
        )
        for rid, blob in rows:
            if rid in wanted and isinstance(blob, bytes) and len(blob) == 4 * dim:
                found[rid] = np.frombuffer(blob, dtype=np.float32)
    except sqlite3.Error:
        return found
    finally:
        conn.close()
    return found
