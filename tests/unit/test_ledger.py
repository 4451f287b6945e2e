"""The SQLite ledger: exact round trips, rollup aggregates, reservations, recovery."""

from __future__ import annotations

import csv
import io
import json
import random
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import closing
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path

import pytest

from core.errors import BudgetExceededError, CorruptLedgerError, LedgerError
from core.ledger import (
    APPLICATION_ID,
    CSV_FIELDS,
    SCHEMA_VERSION,
    Ledger,
    LedgerFilter,
    PeriodSpend,
    Totals,
)
from core.ledger import schema as ledger_schema
from core.ledger.codec import local_day, local_month
from core.ledger.postgres import PgLedger
from core.money import from_pusd, to_pusd
from core.types import Attempt, RequestRecord, Usage

# A fixed local noon so every test record falls on a known local day.
NOON = time.mktime((2025, 3, 14, 12, 0, 0, 0, 0, -1))
TODAY = date(2025, 3, 14)


def make_record(i: int, **kw: object) -> RequestRecord:
    """A plain successful record ``i`` minutes after NOON; keywords override fields."""
    fields: dict[str, object] = {
        "request_id": f"r{i:06d}",
        "started_at": NOON + 60 * i - 1.5,
        "finished_at": NOON + 60 * i,
        "provider": "openai",
        "model": "gpt-4.1-mini",
        "tier": "balanced",
        "usage": Usage(100 + i, 20 + i),
        "cost_usd": Decimal("0.000123") * (i + 1),
        "prompt": f"prompt {i}",
        "response": f"response {i}",
    }
    fields.update(kw)
    return RequestRecord(**fields)  # type: ignore[arg-type]


def full_record() -> RequestRecord:
    """A record with every field away from its default."""
    return RequestRecord(
        request_id="req-full",
        started_at=NOON - 2.25,
        finished_at=NOON + 0.125,
        purpose="eval",
        provider="anthropic",
        model="claude-sonnet",
        tier="premium",
        route_score=0.8125,
        route_reasons=[{"rule": "length", "weight": 0.5, "why": ["long", "code"]}],
        route_mode="auto",
        cache_outcome="semantic",
        cache_similarity=0.9731,
        cache_matched_request_id="req-older",
        usage=Usage(1200, 340, 800, 100, 90),
        estimated_input_tokens=1190,
        estimated_output_tokens=350,
        usage_estimated=True,
        cost_usd=Decimal("0.004567891234"),
        cost_known=True,
        saved_usd=Decimal("0.0123"),
        latency_ms=812.5,
        ttft_ms=120.25,
        retries=1,
        attempts=[
            Attempt("anthropic", "claude-sonnet", "error", error="overloaded", latency_ms=30.0),
            Attempt(
                "anthropic",
                "claude-sonnet",
                "ok",
                usage=Usage(1200, 340, 800, 100, 90),
                cost_usd=Decimal("0.000000000001"),
                latency_ms=782.5,
            ),
        ],
        status="ok",
        error="first try overloaded",
        error_kind="overloaded",
        simulated=True,
        degraded=True,
        prompt="Explain 100% of `x_y` — ünïcode",
        system="be brief",
        response='Sure.\nLine two, "quoted"',
        finish_reason="stop",
        conversation_id="conv-1",
        warnings=["usage estimated", "degraded"],
    )


@pytest.fixture(params=["sqlite", "postgresql"])
def open_ledger(request: pytest.FixtureRequest, tmp_path: Path) -> Callable[[], Ledger]:
    """Opens another instance on the same storage: the SQLite file, or a database on the
    suite's real PostgreSQL server."""
    if request.param == "sqlite":
        return lambda: Ledger.open(tmp_path / "ledger.db")
    url = request.getfixturevalue("pg_url")
    return lambda: PgLedger.connect(url)


@pytest.fixture
def ledger(open_ledger: Callable[[], Ledger]) -> Iterator[Ledger]:
    with open_ledger() as led:
        yield led


@pytest.fixture
def sqlite_ledger(tmp_path: Path) -> Iterator[Ledger]:
    with Ledger.open(tmp_path / "ledger.db") as led:
        yield led


def random_records(n: int, seed: int = 7, step_min: int = 97) -> list[RequestRecord]:
    """``n`` varied records, one every ``step_min`` minutes from NOON."""
    rng = random.Random(seed)
    out = []
    for i in range(n):
        cost = None if rng.random() < 0.1 else Decimal(rng.randrange(0, 10**9)).scaleb(-12)
        out.append(
            make_record(
                i * step_min,
                purpose=rng.choice(["user", "eval", "router"]),
                tier=rng.choice(["fast", "balanced", "premium", None]),
                model=rng.choice(["m1", "m2", "m3"]),
                provider=rng.choice(["openai", "anthropic", None]),
                status=rng.choice(["ok", "ok", "error", "refused"]),
                cache_outcome=rng.choice(["miss", "miss", "exact", "semantic"]),
                simulated=rng.random() < 0.3,
                cost_usd=cost,
                cost_known=cost is not None,
                saved_usd=Decimal(rng.randrange(0, 10**6)).scaleb(-9),
                usage=Usage(rng.randrange(5000), rng.randrange(900), rng.randrange(50), 0, 7),
            )
        )
    return out


# -- round trip ---------------------------------------------------------------


def test_full_record_round_trips_exactly(ledger: Ledger) -> None:
    rec = full_record()
    ledger.record(rec)
    back = ledger.get("req-full")
    assert back == rec
    assert back is not None and back.attempts[1].cost_usd == Decimal("0.000000000001")
    assert ledger.get("missing") is None


def test_default_record_round_trips(ledger: Ledger) -> None:
    rec = RequestRecord("plain", NOON, NOON + 1)
    ledger.record(rec)
    assert ledger.get("plain") == rec


def test_duplicate_request_id_is_refused_and_rollup_unchanged(ledger: Ledger) -> None:
    ledger.record(make_record(1))
    with pytest.raises(LedgerError, match="already in the ledger"):
        ledger.record(make_record(1))
    assert ledger.totals().requests == 1
    assert ledger.count() == 1


def test_day_and_month_are_local_time_of_finished_at(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TZ", "America/New_York")
    time.tzset()
    try:
        with Ledger.open(tmp_path / "tz.db") as led:
            # 2024-01-01 03:00 UTC is still New Year's Eve in New York.
            led.record(RequestRecord("tz", 1704078000.0, 1704078000.0, cost_usd=Decimal(1)))
            assert led.daily_series()[0].day == "2023-12-31"
            assert led.month_spend("2023-12") == Decimal(1)
            assert led.month_spend("2024-01") == Decimal(0)
    finally:
        monkeypatch.undo()
        time.tzset()


# -- rollup aggregates ----------------------------------------------------------


_BRUTE_SUMS = (
    "cost_pusd", "cost_pusd IS NULL OR cost_known = 0", "saved_pusd", "input_tokens",
    "output_tokens", "cached_input_tokens", "reasoning_tokens", "cache_outcome != 'miss'",
    "status = 'error'", "status = 'refused'",
)  # fmt: skip


def brute_totals(conn: sqlite3.Connection, where: str = "", params: tuple = ()) -> Totals:
    """Totals straight from ``requests``, the slow way."""
    sums = ", ".join(f"COALESCE(SUM({expr}), 0)" for expr in _BRUTE_SUMS)
    row = conn.execute(f"SELECT COUNT(*), {sums} FROM requests {where}", params).fetchone()
    return Totals(row[0], from_pusd(row[1]), row[2], from_pusd(row[3]), *row[4:])


RANGES = [
    (None, None),
    (date(2025, 3, 1), None),
    (TODAY, None),
    (None, date(2025, 3, 31)),
    (None, date(2025, 4, 10)),
    (TODAY, date(2025, 6, 3)),
    (date(2025, 4, 1), date(2025, 6, 30)),
    (date(2025, 4, 5), date(2025, 4, 20)),
    (date(2025, 4, 30), date(2025, 5, 1)),
    (TODAY, TODAY),
    (date(2026, 1, 1), None),
]


@pytest.fixture(scope="module")
def spread_ledger(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Ledger, Path]]:
    """400 varied records over about seven months, half recorded one by one."""
    path = tmp_path_factory.mktemp("agg") / "agg.db"
    records = random_records(400, step_min=97 * 8)
    with Ledger.open(path) as led:
        for rec in records[:200]:
            led.record(rec)
        led.record_many(records[200:])
        yield led, path


def _range_sql(since: date | None, until: date | None) -> tuple[str, tuple[str, ...]]:
    parts = (["day >= ?"] if since else []) + (["day <= ?"] if until else [])
    params = tuple(d.isoformat() for d in (since, until) if d)
    return " AND ".join(parts) or "1", params


@pytest.mark.parametrize(("since", "until"), RANGES)
def test_rollup_totals_equal_brute_force_sums(
    spread_ledger: tuple[Ledger, Path], since: date | None, until: date | None
) -> None:
    led, path = spread_ledger
    cond, params = _range_sql(since, until)
    with closing(sqlite3.connect(path)) as conn:
        assert led.totals(since, until) == brute_totals(conn, f"WHERE {cond}", params)
        assert led.totals(since, until, purpose="eval") == brute_totals(
            conn, f"WHERE {cond} AND purpose = 'eval'", params
        )
        for by in ("tier", "model", "provider", "purpose", "cache_outcome", "status"):
            groups = led.breakdown(by, since, until)  # type: ignore[arg-type]
            for g in groups:
                test = f"{by} IS NULL" if g.key is None else f"{by} = ?"
                args = params if g.key is None else (*params, g.key)
                assert g.totals == brute_totals(conn, f"WHERE {cond} AND {test}", args), by
            assert sum(g.totals.requests for g in groups) == led.count(
                LedgerFilter(since=since, until=until)
            )
        days = conn.execute(
            "SELECT day, COUNT(*), COALESCE(SUM(cost_pusd), 0), SUM(cache_outcome != 'miss')"
            f" FROM requests WHERE {cond} GROUP BY day ORDER BY day",
            params,
        ).fetchall()
        series = led.daily_series(since, until)
        assert [(p.day, p.requests, p.cost_usd, p.cache_hits) for p in series] == [
            (d, n, from_pusd(c), h) for d, n, c, h in days
        ]
        for by in ("tier", "model", "status"):
            split = conn.execute(
                f"SELECT day, {by}, COUNT(*), COALESCE(SUM(cost_pusd), 0),"
                " SUM(cost_pusd IS NULL OR cost_known = 0), SUM(saved_pusd)"
                f" FROM requests WHERE {cond} GROUP BY day, {by} ORDER BY day, COALESCE({by}, '')",
                params,
            ).fetchall()
            got = led.daily_series(since, until, by=by)  # type: ignore[arg-type]
            assert [
                (p.day, p.key, p.requests, p.cost_usd, p.unknown_cost_requests, p.saved_usd)
                for p in got
            ] == [(d, k, n, from_pusd(c), u, from_pusd(s)) for d, k, n, c, u, s in split]


def test_month_spanning_data_is_really_spread(spread_ledger: tuple[Ledger, Path]) -> None:
    led, _ = spread_ledger
    months = {p.day[:7] for p in led.daily_series()}
    assert {"2025-03", "2025-04", "2025-05", "2025-06"} <= months
    assert led.totals().requests == 400


def test_breakdown_orders_costliest_first_and_series_splits(ledger: Ledger) -> None:
    ledger.record(make_record(1, tier="fast", cost_usd=Decimal("0.01")))
    ledger.record(make_record(2, tier="premium", cost_usd=Decimal("0.50")))
    ledger.record(make_record(3, tier="premium", cost_usd=Decimal("0.25")))
    groups = ledger.breakdown("tier")
    assert [(g.key, g.totals.requests, g.totals.cost_usd) for g in groups] == [
        ("premium", 2, Decimal("0.75")),
        ("fast", 1, Decimal("0.01")),
    ]
    split = ledger.daily_series(by="tier")
    assert [(p.day, p.key, p.requests) for p in split] == [
        ("2025-03-14", "fast", 1),
        ("2025-03-14", "premium", 2),
    ]
    with pytest.raises(ValueError, match="cannot group by"):
        ledger.breakdown("prompt; DROP TABLE requests")  # type: ignore[arg-type]


def test_unknown_cost_is_counted_as_unknown_not_zero(ledger: Ledger) -> None:
    ledger.record(make_record(1, cost_usd=Decimal("0.002")))
    ledger.record(make_record(2, cost_usd=None, cost_known=False))
    ledger.record(make_record(3, cost_usd=None, cost_known=False))
    t = ledger.totals()
    assert (t.requests, t.unknown_cost_requests, t.cost_usd) == (3, 2, Decimal("0.002"))
    assert ledger.get("r000002") is not None
    assert ledger.get("r000002").cost_usd is None  # type: ignore[union-attr]
    assert ledger.daily_series()[0].unknown_cost_requests == 2


def test_totals_count_cache_hits_errors_and_refusals(ledger: Ledger) -> None:
    ledger.record(make_record(1, cache_outcome="exact", saved_usd=Decimal("0.1")))
    ledger.record(make_record(2, cache_outcome="semantic", saved_usd=Decimal("0.2")))
    ledger.record(make_record(3, status="error"))
    ledger.record(make_record(4, status="refused", cost_usd=Decimal(0)))
    t = ledger.totals()
    assert (t.cache_hits, t.errors, t.refused, t.saved_usd) == (2, 1, 1, Decimal("0.3"))


def test_day_month_and_window_spend(ledger: Ledger) -> None:
    ledger.record(make_record(0, cost_usd=Decimal("1.5")))
    ledger.record(make_record(10, cost_usd=Decimal("0.25")))
    tomorrow = make_record(24 * 60, cost_usd=Decimal("2"))
    ledger.record(tomorrow)
    assert ledger.day_spend(TODAY) == Decimal("1.75")
    assert ledger.day_spend(TODAY + timedelta(days=1)) == Decimal(2)
    assert ledger.month_spend("2025-03") == ledger.month_spend(TODAY) == Decimal("3.75")
    assert ledger.spend_between(NOON, NOON + 600) == Decimal("1.5")  # [t0, t1)
    assert ledger.spend_between(NOON, NOON + 601) == Decimal("1.75")


# -- reservations and alerts ------------------------------------------------------


def limit_check(limit_pusd: int, amount_pusd: int) -> object:
    def check(spend: PeriodSpend) -> None:
        if spend.day_committed_pusd + amount_pusd > limit_pusd:
            raise BudgetExceededError(
                "over", budget="daily", spent_usd=spend.day_spent_pusd, limit_usd=limit_pusd
            )

    return check


def test_reserve_record_and_release(ledger: Ledger) -> None:
    seen: list[PeriodSpend] = []
    rid = ledger.reserve("r000001", 500, NOON, seen.append)
    assert seen == [PeriodSpend("2025-03-14", "2025-03", 0, 0, 0, 0)]
    assert ledger.period_spend(NOON) == PeriodSpend("2025-03-14", "2025-03", 0, 500, 0, 500, 1)
    # A hold made on another day of the month counts for the month only.
    earlier = ledger.reserve("r000000", 70, NOON - 86400, lambda s: None, ttl_s=2 * 86400)
    assert ledger.period_spend(NOON) == PeriodSpend("2025-03-14", "2025-03", 0, 500, 0, 570, 2)
    assert ledger.release(earlier) is True
    ledger.record(make_record(1, cost_usd=from_pusd(300)), reservation_id=rid)
    spend = ledger.period_spend(NOON + 60)
    assert (spend.day_spent_pusd, spend.day_reserved_pusd) == (300, 0)
    assert (spend.month_spent_pusd, spend.month_reserved_pusd) == (300, 0)
    other = ledger.reserve("r000002", 40, NOON, seen.append)
    assert seen[-1].day_spent_pusd == 300
    assert ledger.release(other) is True
    assert ledger.release(other) is False
    assert ledger.period_spend(NOON).day_committed_pusd == 300


def test_refused_reservation_rolls_back(ledger: Ledger) -> None:
    check = limit_check(1000, 600)
    ledger.reserve("a", 600, NOON, check)  # type: ignore[arg-type]
    with pytest.raises(BudgetExceededError):
        ledger.reserve("b", 600, NOON, check)  # type: ignore[arg-type]
    assert ledger.period_spend(NOON).day_reserved_pusd == 600


def test_expired_reservations_stop_counting_and_are_deleted(
    sqlite_ledger: Ledger, tmp_path: Path
) -> None:
    ledger = sqlite_ledger
    ledger.reserve("a", 700, NOON, lambda s: None, ttl_s=10)
    assert ledger.period_spend(NOON + 9).day_reserved_pusd == 700
    assert ledger.period_spend(NOON + 10).day_reserved_pusd == 0
    check = limit_check(1000, 700)
    ledger.reserve("b", 700, NOON + 11, check)  # type: ignore[arg-type]
    with closing(sqlite3.connect(tmp_path / "ledger.db")) as conn:
        rows = conn.execute("SELECT request_id FROM reservations").fetchall()
    assert [r[0] for r in rows] == ["b"]


def test_reserve_rejects_bad_arguments(ledger: Ledger) -> None:
    with pytest.raises(ValueError):
        ledger.reserve("a", -1, NOON, lambda s: None)
    with pytest.raises(ValueError):
        ledger.reserve("a", 1, NOON, lambda s: None, ttl_s=0)


def test_claim_alert_only_once_across_instances(
    ledger: Ledger, open_ledger: Callable[[], Ledger]
) -> None:
    assert ledger.claim_alert("daily:2025-03-14:80") is True
    assert ledger.claim_alert("daily:2025-03-14:80") is False
    with open_ledger() as other:
        assert other.claim_alert("daily:2025-03-14:80") is False
        assert other.claim_alert("daily:2025-03-14:100") is True
    assert ledger.claim_alert("daily:2025-03-14:100") is False


# -- reading rows -------------------------------------------------------------------


def test_page_is_newest_first_with_offset_and_limit(ledger: Ledger) -> None:
    for i in range(25):
        ledger.record(make_record(i))
    first = ledger.page(0, 10)
    assert [r.request_id for r in first] == [f"r{i:06d}" for i in range(24, 14, -1)]
    last = ledger.page(20, 10)
    assert [r.request_id for r in last] == [f"r{i:06d}" for i in range(4, -1, -1)]
    assert ledger.page(25, 10) == []
    assert ledger.count() == 25


def test_filters_page_and_count_agree(ledger: Ledger) -> None:
    records = random_records(150, seed=3)
    ledger.record_many(records)
    filters = [
        LedgerFilter(tier="fast"),
        LedgerFilter(model="m2", status="error"),
        LedgerFilter(cache_outcome="exact", purpose="eval"),
        LedgerFilter(since=TODAY + timedelta(days=2), until=TODAY + timedelta(days=4)),
        LedgerFilter(since=TODAY + timedelta(days=5), tier="premium"),
        LedgerFilter(text="PROMPT 97"),
    ]
    for f in filters:
        got = ledger.page(0, 1000, f)
        day = {
            r.request_id: time.strftime("%Y-%m-%d", time.localtime(r.finished_at)) for r in records
        }
        want = [
            r
            for r in records
            if (f.tier is None or r.tier == f.tier)
            and (f.model is None or r.model == f.model)
            and (f.status is None or r.status == f.status)
            and (f.cache_outcome is None or r.cache_outcome == f.cache_outcome)
            and (f.purpose is None or r.purpose == f.purpose)
            and (f.since is None or day[r.request_id] >= f.since.isoformat())
            and (f.until is None or day[r.request_id] <= f.until.isoformat())
            and (f.text is None or f.text.lower() in (r.prompt + "\0" + r.response).lower())
        ]
        want.sort(key=lambda r: r.finished_at, reverse=True)
        assert got == want, f
        assert ledger.count(f) == len(want), f
        assert want, f"filter {f} should match something"


def test_text_filter_treats_like_wildcards_literally(ledger: Ledger) -> None:
    ledger.record(make_record(1, prompt="save 100% now"))
    ledger.record(make_record(2, prompt="save 1000 now", response="a_b"))
    ledger.record(make_record(3, response="axb"))
    assert [r.request_id for r in ledger.page(0, 10, LedgerFilter(text="100%"))] == ["r000001"]
    assert [r.request_id for r in ledger.page(0, 10, LedgerFilter(text="a_b"))] == ["r000002"]
    assert ledger.count(LedgerFilter(text="a_b")) == 1


def test_iter_records_is_oldest_first_across_batches(ledger: Ledger) -> None:
    records = [make_record(i) for i in range(1203)]
    ledger.record_many(reversed(records))
    assert list(ledger.iter_records()) == records
    since = TODAY + timedelta(days=1)
    assert [r.request_id for r in ledger.iter_records(since)] == [
        r.request_id for r in records if r.finished_at >= time.mktime(since.timetuple())
    ]


def test_changes_since_sees_rows_from_another_connection(
    ledger: Ledger, open_ledger: Callable[[], Ledger]
) -> None:
    ledger.record(make_record(1))
    mark = ledger.latest_rowid()
    with open_ledger() as other:
        other.record(make_record(2))
        other.record(make_record(3))
    upto = ledger.latest_rowid()
    assert [r.request_id for r in ledger.changes_since(mark, upto=upto)] == [
        "r000002",
        "r000003",
    ]
    assert ledger.changes_since(upto) == []
    assert [r.request_id for r in ledger.changes_since(0, limit=1)] == ["r000001"]


def test_threads_share_one_ledger(ledger: Ledger) -> None:
    def work(k: int) -> None:
        for i in range(50):
            ledger.record(make_record(k * 1000 + i))
            ledger.totals()

    threads = [threading.Thread(target=work, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert ledger.count() == 200
    assert ledger.totals().requests == 200


# -- export ---------------------------------------------------------------------------


def test_export_jsonl_is_nested_with_money_strings(ledger: Ledger) -> None:
    ledger.record(full_record())
    ledger.record(make_record(1, cost_usd=None, cost_known=False))
    out = io.StringIO()
    assert ledger.export("jsonl", out) == 2
    rows = [json.loads(line) for line in out.getvalue().splitlines()]
    full = rows[0]
    assert full["request_id"] == "req-full"
    assert full["cost_usd"] == "0.004567891234"
    assert full["saved_usd"] == "0.0123"
    assert full["usage"]["cached_input_tokens"] == 800
    assert full["usage"]["estimated"] is True
    assert full["route"] == {
        "tier": "premium",
        "score": 0.8125,
        "mode": "auto",
        "reasons": [{"rule": "length", "weight": 0.5, "why": ["long", "code"]}],
    }
    assert full["cache"]["outcome"] == "semantic"
    assert full["attempts"][1]["cost_usd"] == "0.000000000001"
    assert rows[1]["cost_usd"] is None
    assert "api_key" not in out.getvalue()


def test_export_csv_is_flat_and_filters_by_date(ledger: Ledger) -> None:
    ledger.record(full_record())
    ledger.record(make_record(24 * 60 * 2, cost_usd=Decimal("0.5")))
    out = io.StringIO()
    assert ledger.export("csv", out) == 2
    rows = list(csv.DictReader(io.StringIO(out.getvalue())))
    assert tuple(rows[0]) == CSV_FIELDS
    assert rows[0]["cost_usd"] == "0.004567891234"
    assert rows[0]["simulated"] == "true"
    assert rows[0]["response"] == 'Sure.\nLine two, "quoted"'
    assert json.loads(rows[0]["attempts"])[0]["error"] == "overloaded"
    assert rows[1]["cost_usd"] == "0.5"
    later = io.StringIO()
    assert ledger.export("csv", later, since=TODAY + timedelta(days=1)) == 1
    assert "req-full" not in later.getvalue()
    with pytest.raises(ValueError, match="unknown export format"):
        ledger.export("xml", io.StringIO())  # type: ignore[arg-type]


# -- schema, markers, migrations ------------------------------------------------------


def test_new_ledger_is_marked_and_versioned(tmp_path: Path) -> None:
    path = tmp_path / "new.db"
    with Ledger.open(path) as led:
        assert led.schema_version == SCHEMA_VERSION == len(ledger_schema.MIGRATIONS)
        assert led.recovered_from is None
    conn = sqlite3.connect(path)
    assert conn.execute("PRAGMA application_id").fetchone()[0] == APPLICATION_ID
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    meta = dict(conn.execute("SELECT key, value FROM centwise_meta").fetchall())
    assert meta["app"] == "centwise" and meta["schema_version"] == str(SCHEMA_VERSION)
    conn.close()


def test_a_v2_migration_is_one_appended_function(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "old.db"
    with Ledger.open(path) as led:
        led.record(make_record(1))
    calls: list[int] = []

    def v2(db: object) -> None:
        calls.append(2)
        db.execute("ALTER TABLE requests ADD COLUMN note TEXT")  # type: ignore[attr-defined]

    migrations = (*ledger_schema.MIGRATIONS, v2)
    monkeypatch.setattr(ledger_schema, "MIGRATIONS", migrations)
    monkeypatch.setattr(ledger_schema, "SCHEMA_VERSION", len(migrations))
    with Ledger.open(path) as led:
        assert led.schema_version == len(migrations)
        assert led.get("r000001") == make_record(1)
    with Ledger.open(path) as led:
        assert led.schema_version == len(migrations)
    assert calls == [2]  # the earlier migrations not rerun, the new one run once


def test_v5_drops_the_reservation_day_and_month_indexes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "v4.db"
    with monkeypatch.context() as m:
        m.setattr(ledger_schema, "MIGRATIONS", ledger_schema.MIGRATIONS[:4])
        m.setattr(ledger_schema, "SCHEMA_VERSION", 4)
        Ledger.open(path).close()
    with closing(sqlite3.connect(path)) as conn, conn:  # a hold as a v4 Centwise made it
        conn.execute(
            "INSERT INTO reservations (id, request_id, amount_pusd, day, month, created_at,"
            " expires_at) VALUES ('h1', 'r000001', 500, ?, ?, ?, ?)",
            (local_day(NOON), local_month(NOON), NOON, NOON + 900),
        )

    def indexes() -> set[str]:
        with closing(sqlite3.connect(path)) as conn:
            rows = conn.execute(
                "SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'reservations'"
                " AND sql IS NOT NULL"
            )
            return {r[0] for r in rows}

    assert indexes() == {
        "idx_reservations_expires_at",
        "idx_reservations_day",
        "idx_reservations_month",
    }
    with Ledger.open(path) as led:
        assert led.schema_version == SCHEMA_VERSION
        assert led.period_spend(NOON).month_reserved_pusd == 500  # the hold survived
    assert indexes() == {"idx_reservations_expires_at"}


def test_ledger_from_a_newer_centwise_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "future.db"
    Ledger.open(path).close()
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA user_version = 99")
    conn.commit()
    conn.close()
    with pytest.raises(LedgerError, match="newer Centwise"):
        Ledger.open(path)


# -- opening bad files ------------------------------------------------------------------


def test_garbage_file_raises_and_is_left_untouched(tmp_path: Path) -> None:
    path = tmp_path / "ledger.db"
    garbage = bytes(range(256)) * 40
    path.write_bytes(garbage)
    with pytest.raises(CorruptLedgerError, match=r"not an SQLite database.*left untouched"):
        Ledger.open(path, recover=False)
    assert path.read_bytes() == garbage
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ledger.db"]


def test_garbage_file_with_recover_is_kept_aside_byte_identical(tmp_path: Path) -> None:
    path = tmp_path / "ledger.db"
    garbage = b"definitely not sqlite\x00\xff" * 500
    path.write_bytes(garbage)
    (tmp_path / "ledger.db-wal").write_bytes(b"stale wal")
    with Ledger.open(path, recover=True) as led:
        aside = led.recovered_from
        assert aside is not None and aside.name.startswith("ledger.db.corrupt-")
        assert aside.read_bytes() == garbage
        assert Path(f"{aside}-wal").read_bytes() == b"stale wal"
        led.record(make_record(1))
        assert led.count() == 1
    path.write_bytes(garbage)  # damaged again: a second aside, the first kept
    with Ledger.open(path, recover=True) as led:
        assert led.recovered_from is not None and led.recovered_from != aside
    assert aside.read_bytes() == garbage


def test_damaged_ledger_fails_quick_check(tmp_path: Path) -> None:
    path = tmp_path / "ledger.db"
    with Ledger.open(path) as led:
        led.record_many(random_records(300))
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    (page_size,) = conn.execute("PRAGMA page_size").fetchone()
    conn.close()
    data = bytearray(path.read_bytes())
    for start in range(2 * page_size, len(data), 3 * page_size):
        data[start + 8 : start + 200] = b"\xa5" * 192  # smash b-tree page headers
    path.write_bytes(bytes(data))
    with pytest.raises(CorruptLedgerError, match="damaged"):
        Ledger.open(path)
    assert path.read_bytes() == bytes(data)
    with Ledger.open(path, recover=True) as led:
        assert led.recovered_from is not None
        assert led.recovered_from.read_bytes() == bytes(data)
        assert led.count() == 0


@pytest.mark.parametrize("recover", [False, True])
def test_foreign_sqlite_database_is_refused_and_untouched(tmp_path: Path, recover: bool) -> None:
    path = tmp_path / "photos.db"
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE photos (id INTEGER PRIMARY KEY, name TEXT)")
    conn.execute("INSERT INTO photos (name) VALUES ('cat.jpg')")
    conn.commit()
    conn.close()
    before = path.read_bytes()
    with pytest.raises(CorruptLedgerError, match="not a Centwise ledger"):
        Ledger.open(path, recover=recover)
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["photos.db"]


def test_empty_file_is_a_new_ledger(tmp_path: Path) -> None:
    path = tmp_path / "ledger.db"
    path.write_bytes(b"")
    with Ledger.open(path) as led:
        assert led.recovered_from is None
        assert led.schema_version == SCHEMA_VERSION
        led.record(make_record(1))
    assert sorted(p.name for p in tmp_path.iterdir() if "corrupt" in p.name) == []


def test_missing_parent_directory_is_created(tmp_path: Path) -> None:
    with Ledger.open(tmp_path / "a" / "b" / "ledger.db") as led:
        assert led.count() == 0


def test_closed_ledger_raises_ledger_error(tmp_path: Path) -> None:
    led = Ledger.open(tmp_path / "ledger.db")
    led.close()
    with pytest.raises(LedgerError):
        led.totals()


def test_money_is_stored_as_integer_picodollars(sqlite_ledger: Ledger, tmp_path: Path) -> None:
    sqlite_ledger.record(make_record(1, cost_usd=Decimal("0.000000000003"), saved_usd=Decimal("2")))
    with closing(sqlite3.connect(tmp_path / "ledger.db")) as conn:
        row = conn.execute(
            "SELECT cost_pusd, typeof(cost_pusd), saved_pusd FROM requests"
        ).fetchone()
    assert row == (3, "integer", to_pusd(Decimal(2)))


def test_record_is_atomic_with_its_rollups(
    sqlite_ledger: Ledger, monkeypatch: pytest.MonkeyPatch
) -> None:
    ledger = sqlite_ledger
    rid = ledger.reserve("r000001", 100, NOON, lambda s: None)

    def broken(conn: sqlite3.Connection, rows: object) -> None:
        raise sqlite3.OperationalError("disk I/O error")

    monkeypatch.setattr("core.ledger.store.add_to_rollups", broken)
    with pytest.raises(LedgerError, match="disk I/O error"):
        ledger.record(make_record(1), reservation_id=rid)
    monkeypatch.undo()
    assert ledger.get("r000001") is None
    assert ledger.period_spend(NOON).day_reserved_pusd == 100  # hold kept too
    ledger.record(make_record(1), reservation_id=rid)
    assert ledger.totals().requests == ledger.count() == 1


def test_light_open_check_still_opens_a_healthy_ledger(tmp_path: Path) -> None:
    path = tmp_path / "ledger.db"
    with Ledger.open(path) as led:
        led.record(make_record(1))
    with Ledger.open(path, full_check=False) as led:
        assert led.get("r000001") == make_record(1)


# -- team mode: members, apps, gateway keys (both backends) ---------------------------


def test_member_and_app_split_spend_and_filter(ledger: Ledger) -> None:
    ledger.record(make_record(1, member="ann"))
    ledger.record(make_record(2, member="ann", app="ci-bot"))
    ledger.record(make_record(3, member="bob", app="ci-bot"))
    by_member = {g.key: g.totals.requests for g in ledger.breakdown("member")}
    assert by_member == {"ann": 2, "bob": 1}
    by_app = {g.key: g.totals.cost_usd for g in ledger.breakdown("app")}
    assert by_app == {"ci-bot": Decimal("0.000123") * 7, None: Decimal("0.000123") * 2}
    assert ledger.count(LedgerFilter(app="ci-bot")) == 2
    assert [r.request_id for r in ledger.page(0, 9, LedgerFilter(member="ann", app="ci-bot"))] == [
        "r000002"
    ]
    assert ledger.get("r000003").member == "bob"  # type: ignore[union-attr]
    assert {p.key for p in ledger.daily_series(by="member")} == {"ann", "bob"}


def test_scoped_holds_are_checked_under_the_same_lock(ledger: Ledger) -> None:
    ledger.record(make_record(1, member="ann", app="ci-bot"))
    ledger.reserve("held", 500, NOON + 120, lambda s: None, member="ann", app="ci-bot")
    ledger.reserve("other", 700, NOON + 120, lambda s: None, member="bob")
    seen: list[object] = []
    ledger.reserve(
        "new",
        1,
        NOON + 121,
        seen.append,
        member="ann",
        scopes=[("member", "ann"), ("app", "ci-bot")],
    )
    (spend,) = seen
    assert isinstance(spend, PeriodSpend)
    assert spend.day_reserved_pusd == 1200 and spend.holds == 2
    scoped = {(c, v): s for c, v, s in spend.scopes}
    ann = scoped[("member", "ann")]
    assert ann.day_spent_pusd == to_pusd(Decimal("0.000246")) and ann.day_reserved_pusd == 500
    assert ann.holds == 1
    assert scoped[("app", "ci-bot")].day_reserved_pusd == 500
    assert ledger.scoped_spend("member", "bob", NOON + 121).day_reserved_pusd == 700


def test_gateway_keys_are_stored_as_hashes_and_revoked(ledger: Ledger) -> None:
    key = ledger.add_gateway_key("ci-bot", "a" * 64, "cwk-abcd", daily_usd=Decimal("2.5"))
    assert key.active and key.daily_usd == Decimal("2.5") and key.monthly_usd is None
    with pytest.raises(LedgerError, match="already exists"):
        ledger.add_gateway_key("ci-bot", "b" * 64, "cwk-efgh")
    assert ledger.gateway_key_by_hash("a" * 64) == key
    assert ledger.gateway_key_by_hash("c" * 64) is None
    assert ledger.revoke_gateway_key("ci-bot", NOON) is True
    assert ledger.revoke_gateway_key("ci-bot", NOON) is False
    assert ledger.gateway_key_by_hash("a" * 64) is None
    assert [k.active for k in ledger.gateway_keys()] == [False]
    assert ledger.gateway_keys(include_revoked=False) == []
    again = ledger.add_gateway_key("ci-bot", "d" * 64, "cwk-ijkl")  # the name is free again
    assert again.active and ledger.gateway_key_by_hash("d" * 64) == again


def test_record_returns_the_spend_after_it(ledger: Ledger) -> None:
    rid = ledger.reserve("r000001", 900, NOON + 60, lambda s: None)
    spend = ledger.record(make_record(1), reservation_id=rid)
    assert spend.day_spent_pusd == to_pusd(Decimal("0.000246"))
    assert spend.day_reserved_pusd == 0 and spend.holds == 0
    assert spend == ledger.period_spend(NOON + 60)


def test_existing_ids_for_resumable_copies(ledger: Ledger) -> None:
    ledger.record_many(make_record(i) for i in range(3))
    asked = [f"r{i:06d}" for i in range(1200)]
    assert ledger.existing_ids(asked) == {"r000000", "r000001", "r000002"}
    assert ledger.existing_ids([]) == set()
