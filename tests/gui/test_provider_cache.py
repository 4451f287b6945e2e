"""Provider prompt caching in the GUI: the Spend view's Provider cache panel (figures,
misses by cause, per model, the range, live refresh, the empty state) and the History
detail's Provider cache section (marks or key, tokens, and where a break happened)."""

from __future__ import annotations

import time
from dataclasses import replace
from decimal import Decimal

import pytest

pytest.importorskip("PySide6")

from app.history.prompt_cache import prompt_cache_lines
from app.history.view import HistoryView
from app.spend.provider_cache import CAUSE_COLUMNS, EMPTY_TEXT, MODEL_COLUMNS
from app.spend.view import SpendDashboard
from app.widgets.formatting import fmt_usd
from core.prompt_cache.service import CAUSES
from core.types import RequestRecord, Usage
from tests.gui.conftest import sample_records

SONNET = "claude-sonnet-4-5"
SYSTEM_BEFORE = "…t. Today is Monday.\nAnswer in one paragr…"
SYSTEM_AFTER = "…t. Today is Tuesday.\nAnswer in one parag…"


def _record(rid: str, at: float, provider: str, model: str, usage: Usage, **kw) -> RequestRecord:
    return RequestRecord(
        request_id=rid,
        started_at=at - 1,
        finished_at=at,
        provider=provider,
        model=model,
        tier="balanced",
        cache_outcome="miss",
        usage=usage,
        estimated_input_tokens=usage.input_tokens,
        cost_usd=Decimal("0.01"),
        latency_ms=900.0,
        prompt=f"prompt of {rid}",
        response=f"answer of {rid}",
        **kw,
    )


def _anthropic(expected: int, **extra: object) -> dict[str, object]:
    return {
        "rule": "marks",
        "provider_kind": "anthropic",
        "group": "conversation:c1",
        "expected_cached_tokens": expected,
        "prefix_tokens": 3100,
        "marks": {"auto": ["messages[0]", "messages[2]"], "client": [], "ttl": "5m"},
        **extra,
    }


def provider_cache_records(now: float) -> list[RequestRecord]:
    """An Anthropic conversation (a write, a read, a system-prompt break), an OpenAI
    request the provider under-read, one of 20 days ago, and two Simulator requests
    (one answered from the semantic cache)."""
    write = _record(
        "req_pc_1", now - 300, "anthropic", SONNET, Usage(3200, 80, 0, 3000, 0, 1000),
        prompt_cache=_anthropic(0, reported_cached_tokens=0, cache_write_tokens=3000),
        prompt_cache_saved_usd=Decimal("-0.00425"),
    )  # fmt: skip
    read = _record(
        "req_pc_2", now - 200, "anthropic", SONNET, Usage(3300, 90, 3000, 0),
        prompt_cache=_anthropic(
            3000, reported_cached_tokens=3000, previous_request_id="req_pc_1"
        ),
        prompt_cache_saved_usd=Decimal("0.0081"),
    )  # fmt: skip
    broken = _record(
        "req_pc_3", now - 100, "anthropic", SONNET, Usage(3400, 70, 0, 3100),
        prompt_cache=_anthropic(
            0,
            reported_cached_tokens=0,
            cache_write_tokens=3100,
            previous_request_id="req_pc_2",
            divergence={
                "part": "messages", "index": 0, "offset": 42,
                "before": SYSTEM_BEFORE, "after": SYSTEM_AFTER,
            },
            **{"break": {"cause": "system_changed", "why": CAUSES["system_changed"],
                         "lost_tokens": 3000}},
        ),
        prompt_cache_saved_usd=Decimal("-0.0011625"),
        prompt_cache_lost_usd=Decimal("0.0081"),
    )  # fmt: skip
    missed = _record(
        "req_pc_4", now - 50, "openai", "gpt-4.1", Usage(2500, 40, 1024, 0),
        prompt_cache={
            "rule": "automatic", "provider_kind": "openai", "group": "client:default",
            "expected_cached_tokens": 2304, "reported_cached_tokens": 1024,
            "prompt_cache_key": "centwise-0123456789abcdef",
            "previous_request_id": "req_pc_0",
            "break": {"cause": "provider_miss", "why": CAUSES["provider_miss"],
                      "lost_tokens": 1280},
        },
        prompt_cache_saved_usd=Decimal("0.001536"),
        prompt_cache_lost_usd=Decimal("0.00192"),
    )  # fmt: skip
    old = _record(
        "req_pc_0", now - 20 * 86400, "openai", "gpt-4.1", Usage(2000, 40, 1536, 0),
        prompt_cache={
            "rule": "automatic", "provider_kind": "openai", "group": "client:default",
            "expected_cached_tokens": 1536, "reported_cached_tokens": 1536,
            "prompt_cache_key": "centwise-0123456789abcdef",
        },
        prompt_cache_saved_usd=Decimal("0.002304"),
    )  # fmt: skip
    simulated = sample_records(2, days=0, now=now - 10)
    simulated[0] = replace(
        simulated[0], cache_outcome="semantic", cost_usd=Decimal(0), saved_usd=Decimal("0.0007")
    )
    simulated[1] = replace(simulated[1], context_saved_usd=Decimal("0.0003"))
    return [old, write, read, broken, missed, *simulated]


@pytest.fixture
def seeded(make_bridge):
    bridge = make_bridge()
    bridge.engine.ledger.record_many(provider_cache_records(time.time()))
    return bridge


def _dashboard(qtbot, bridge) -> SpendDashboard:
    dash = SpendDashboard(bridge)
    qtbot.addWidget(dash)
    qtbot.waitUntil(lambda: dash.data is not None)
    return dash


def _column(table, column: int) -> list[str]:
    return [table.text(r, column) for r in range(table.rowCount())]


def test_panel_shows_hit_ratio_savings_causes_and_models(qtbot, seeded):
    dash = _dashboard(qtbot, seeded)
    panel = dash.provider_cache
    assert not panel.is_empty()
    labels = {k: label.text() for k, label in panel.labels.items()}
    # 30 days: 3,000 + 1,024 + 1,536 cached of 3,200 + 3,300 + 3,400 + 2,500 + 2,000
    assert labels["hit_ratio"] == "Hit ratio 38.6% (5 requests)"
    assert labels["cached"] == "Cached tokens: 5,560 reported · 6,840 expected"
    assert labels["written"] == "Written: 6,100 tokens of 14,400 input"
    saved = Decimal("-0.00425") + Decimal("0.0081") - Decimal("0.0011625")
    saved += Decimal("0.001536") + Decimal("0.002304")
    assert (
        labels["saved"]
        == f"Saved by provider caching: {fmt_usd(saved)}"
        == ("Saved by provider caching: $0.00653")
    )
    assert labels["lost"] == "Lost to breaks and misses (2): $0.01"
    # The semantic cache's and context management's savings, kept apart.
    assert labels["apart"] == "Apart: semantic cache $0.0007 · context $0.0003"

    causes = panel.causes_table
    assert [causes.horizontalHeaderItem(c).text() for c in range(4)] == list(CAUSE_COLUMNS)
    assert _column(causes, 0) == [CAUSES["system_changed"], CAUSES["provider_miss"]]
    assert [causes.text(0, c) for c in range(1, 4)] == ["1", "3,000", "$0.0081"]
    assert [causes.text(1, c) for c in range(1, 4)] == ["1", "1,280", "$0.00192"]
    assert causes.item(0, 0).toolTip() == f"{CAUSES['system_changed']} (system_changed)"
    assert panel.causes_box.title() == "Misses by cause (2)"

    models = panel.models_table
    assert [models.horizontalHeaderItem(c).text() for c in range(7)] == list(MODEL_COLUMNS)
    assert _column(models, 0) == [f"anthropic/{SONNET}", "openai/gpt-4.1"]
    assert [models.text(0, c) for c in range(1, 7)] == [
        "3", "30.3%", "3,000", "9,900", "6,100", "$0.00269",
    ]  # fmt: skip
    assert [models.text(1, c) for c in range(1, 7)] == [
        "2", "56.9%", "2,560", "4,500", "0", "$0.00384",
    ]  # fmt: skip
    assert panel.models_box.title() == "Per model (2)"
    # The tab's title carries the headline figures while the other tab is shown.
    tabs = dash.bottom_tabs
    assert tabs.currentIndex() == 0  # savings and quality first, as before
    assert tabs.tabText(tabs.indexOf(panel)) == "Provider cache: 38.6% hit ratio, saved $0.00653"


def test_panel_follows_the_range_and_the_ledger(qtbot, seeded):
    dash = _dashboard(qtbot, seeded)
    panel = dash.provider_cache
    loads = dash.loads
    dash.set_range("7 days")  # the 20-day-old OpenAI request drops out
    qtbot.waitUntil(lambda: dash.loads > loads)
    assert panel.labels["hit_ratio"].text() == "Hit ratio 32.5% (4 requests)"
    assert [panel.models_table.text(1, c) for c in (3, 4)] == ["1,024", "2,500"]

    later = _record(
        "req_pc_5", time.time(), "gemini", "gemini-2.5-flash", Usage(4000, 30, 4000, 0),
        prompt_cache={"rule": "automatic", "provider_kind": "gemini", "group": "client:x",
                      "expected_cached_tokens": 4000, "reported_cached_tokens": 4000},
        prompt_cache_saved_usd=Decimal("0.0009"),
    )  # fmt: skip
    seeded.engine.ledger.record(later)
    loads = dash.loads
    dash.on_ledger_changed()
    qtbot.waitUntil(lambda: dash.loads > loads)
    assert panel.labels["hit_ratio"].text() == "Hit ratio 48.9% (5 requests)"
    assert "gemini/gemini-2.5-flash" in _column(panel.models_table, 0)


def test_panel_says_when_there_is_nothing_to_show(qtbot, make_bridge):
    bridge = make_bridge()
    bridge.engine.ledger.record_many(sample_records(12, days=3))  # Simulator only
    dash = _dashboard(qtbot, bridge)
    panel = dash.provider_cache
    assert panel.is_empty()
    assert panel.empty_label.text() == EMPTY_TEXT
    assert "Anthropic, OpenAI or Gemini" in EMPTY_TEXT and "Simulator" in EMPTY_TEXT
    assert panel.causes_table.rowCount() == 0 and panel.models_table.rowCount() == 0
    assert dash.bottom_tabs.tabText(1) == "Provider cache"


def _select(qtbot, view: HistoryView, request_id: str) -> str:
    model = view.model
    for row in range(model.rowCount()):
        qtbot.waitUntil(lambda row=row: model.record_at(row) is not None)
        if model.record_at(row).request_id == request_id:
            view.table.selectRow(row)
            qtbot.waitUntil(lambda: request_id in view.detail.toPlainText())
            return view.content.toPlainText()
    raise AssertionError(f"{request_id} not in the history")


def test_history_detail_shows_a_break_where_and_what_it_cost(qtbot, seeded):
    view = HistoryView(seeded)
    qtbot.addWidget(view)
    qtbot.waitUntil(lambda: view.model.rowCount() == 7)

    text = _select(qtbot, view, "req_pc_3")
    assert not view.content.isHidden()
    assert text == "\n".join(
        [
            "Provider cache (anthropic, marked prefixes)",
            "    Marks sent: automatic: messages[0], messages[2] · TTL 5m",
            "    Cached tokens: expected 0 · reported 0",
            "    Written to the cache: 3,100 tokens",
            "    Saved by provider caching: -$0.00116 (write premium, not yet read)",
            "    Break: the system prompt changed (system_changed)",
            "    Where: messages[0] at character 42",
            "        was: …t. Today is Monday.⏎Answer in one paragr…",
            "        now: …t. Today is Tuesday.⏎Answer in one parag…",
            "    Previous request: req_pc_2",
            "    Lost: $0.0081 (3,000 cached tokens not read)",
        ]
    )

    text = _select(qtbot, view, "req_pc_1")
    assert "    Written to the cache: 3,000 tokens (1,000 of them for 1 hour)" in text
    assert "Break" not in text

    text = _select(qtbot, view, "req_pc_4")
    assert text.startswith("Provider cache (openai, automatic prefixes)\n")
    assert "    prompt_cache_key: centwise-0123456789abcdef" in text
    assert "    Cached tokens: expected 2,304 · reported 1,024" in text
    assert f"    Break: {CAUSES['provider_miss']} (provider_miss)" in text
    assert "Where:" not in text  # a miss, not a changed prefix
    assert "    Lost: $0.00192 (1,280 cached tokens not read)" in text

    _select(qtbot, view, "req_bulk_0000000")  # the Simulator keeps no prompt cache
    assert view.content.isHidden() and view.content.toPlainText() == ""


def test_history_detail_says_nothing_when_caching_had_nothing_to_do():
    """A prompt under the provider's minimum: no marks, no key, nothing read or written."""
    quiet = _record(
        "req_short", time.time(), "simulator", "gpt-4.1", Usage(41, 40),
        prompt_cache={"rule": "automatic", "provider_kind": "openai", "group": "client:default",
                      "expected_cached_tokens": 0, "reported_cached_tokens": 0,
                      "cache_write_tokens": 0, "prefix_tokens": 38},
        simulated=True,
    )  # fmt: skip
    assert prompt_cache_lines(quiet) == []
    read = replace(quiet, usage=Usage(2100, 40, 1920), prompt_cache_saved_usd=Decimal("0.00288"))
    assert prompt_cache_lines(read)[:2] == [
        "Provider cache (openai, emulated by the Simulator, automatic prefixes)",
        "    Cached tokens: expected 0 · reported 1,920",
    ]
