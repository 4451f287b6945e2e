"""Ledger migration 2 (context columns, conversations) and the conversation store."""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Iterator
from contextlib import closing
from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest

from core.context.conversations import ConversationStore, StoredSummary
from core.errors import InputError
from core.ledger import Ledger
from core.ledger import schema as ledger_schema
from core.ledger.codec import V1_COLUMNS
from core.ledger.postgres import PgLedger
from core.types import ImagePart, Message, RequestRecord, ToolCall

NOON = time.mktime((2025, 3, 14, 12, 0, 0, 0, 0, -1))


@pytest.fixture(params=["sqlite", "postgresql"])
def ledger(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Ledger]:
    """A new ledger: the SQLite file, or a database on the suite's PostgreSQL server."""
    if request.param == "sqlite":
        led = Ledger.open(tmp_path / "ledger.sqlite")
    else:
        led = PgLedger.connect(request.getfixturevalue("pg_url"))
    with led:
        yield led


def test_a_v1_ledger_is_migrated_and_keeps_its_rows(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "ledger.sqlite"
    with monkeypatch.context() as m:
        m.setattr(ledger_schema, "MIGRATIONS", ledger_schema.MIGRATIONS[:1])
        m.setattr(ledger_schema, "SCHEMA_VERSION", 1)
        Ledger.open(path).close()
    with closing(sqlite3.connect(path)) as conn, conn:  # a row written by version 1
        conn.execute(
            f"INSERT INTO requests ({', '.join(V1_COLUMNS)}) VALUES"
            f" ({', '.join('?' * len(V1_COLUMNS))})",
            _v1_row(),
        )
    with Ledger.open(path) as led:
        assert led.schema_version == ledger_schema.SCHEMA_VERSION >= 2
        old = led.get("old")
        assert old is not None and old.context_tokens_before is None
        assert old.context_saved_usd == 0 and old.context_actions == []
        new = RequestRecord(
            "new", NOON, NOON + 1, context_tokens_before=900, context_tokens_after=300,
            context_saved_usd=Decimal("0.000000000001"), context_actions=["window", "trim"],
        )  # fmt: skip
        led.record(new)
        assert led.get("new") == new
        saved, spent = led.context_savings(date(2025, 3, 14))
        assert saved == Decimal("0.000000000001") and spent == 0
        assert led.context_savings(date(2025, 3, 15)) == (0, 0)
        store = ConversationStore(led)
        cid = store.create("sys", NOON)
        assert store.load(cid).messages == ()


def _v1_row() -> tuple[object, ...]:
    values: dict[str, object] = dict.fromkeys(V1_COLUMNS, 0)
    values.update(
        request_id="old", started_at=NOON, finished_at=NOON + 1, day="2025-03-14",
        month="2025-03", purpose="user", route_reasons="[]", cache_outcome="miss",
        attempts="[]", status="ok", prompt="p", response="r", warnings="[]",
        provider=None, model=None, tier=None, route_score=None, route_mode=None,
        cache_similarity=None, cache_matched_request_id=None, estimated_input_tokens=None,
        estimated_output_tokens=None, cost_pusd=None, latency_ms=None, ttft_ms=None,
        error=None, error_kind=None, system=None, finish_reason=None, conversation_id=None,
    )  # fmt: skip
    return tuple(values[c] for c in V1_COLUMNS)


def test_store_round_trips_messages_metadata_and_summaries(ledger: Ledger) -> None:
    store = ConversationStore(ledger)
    try:
        cid = store.create(None, NOON)
        turn = [
            Message("user", "x" * 100 + " tail", metadata={"ts": "2025-03-14T12:00:00Z"}),
            Message("tool", "{}", name="lookup"),
        ]
        store.append(cid, turn, NOON + 5, "req_1")
        store.append(cid, [Message("assistant", "done")], NOON + 6)
        conv = store.load(cid)
        assert conv.messages == (*turn, Message("assistant", "done"))
        assert conv.messages[0].metadata == {"ts": "2025-03-14T12:00:00Z"}
        assert conv.seqs == (0, 1, 2) and conv.summary is None
        assert conv.title.startswith("xxx") and conv.title.endswith("…") and len(conv.title) == 60
        store.save_summary(cid, StoredSummary(2, "S1", "req_s1"), NOON + 7)
        store.save_summary(cid, StoredSummary(3, "S2", "req_s2"), NOON + 8)
        assert store.load(cid).summary == StoredSummary(3, "S2", "req_s2")
        (info,) = store.recent(10)
        assert info.id == cid and info.message_count == 3 and info.updated_at == NOON + 6
        with pytest.raises(InputError, match="no conversation"):
            store.load("nope")
    finally:
        store.close()


def test_recent_lists_newest_first_with_costs_on_either_backend(ledger: Ledger) -> None:
    store = ConversationStore(ledger)
    first = store.create("sys", NOON)
    second = store.create(None, NOON + 1, title="named")
    third = store.create(None, NOON + 2)
    call = ToolCall("call_1", "lookup", '{"q": "50% off"}')
    image = ImagePart("ab" * 32, "image/png", b"\x89PNG", None, 2, 3, "low")
    turn = [
        Message("user", "look at this", images=(image,)),
        Message("assistant", "", tool_calls=(call,)),
        Message("tool", "{}", tool_call_id="call_1"),
    ]
    store.append(first, turn, NOON + 10, "req_a")
    store.append(second, [Message("user", "hello")], NOON + 10)  # ties with `first`
    cost = Decimal("0.000123456789")
    for rid, cid in (("req_a", first), ("req_b", first), ("req_c", third)):
        ledger.record(RequestRecord(rid, NOON, NOON + 1, cost_usd=cost, conversation_id=cid))
    infos = store.recent(10)
    assert [i.id for i in infos] == [second, first, third]  # a tie: the later created first
    by_id = {i.id: i for i in infos}
    assert by_id[first].cost_usd == 2 * cost and by_id[third].cost_usd == cost
    assert by_id[second].cost_usd == 0 and by_id[second].title == "named"
    assert (by_id[first].message_count, by_id[first].title) == (3, "look at this")
    assert [i.id for i in store.recent(1)] == [second]
    loaded = store.load(first).messages
    assert loaded == tuple(turn) and loaded[0].images[0].data == b"\x89PNG"
