"""History: a lazily paged model that stays light at 100,000 rows, filters and export."""

from __future__ import annotations

import json

import pytest

pytest.importorskip("PySide6")

from app.history.model import MAX_PAGES, PAGE_SIZE, HistoryTableModel
from app.history.view import HistoryView
from app.widgets.content.tools_editor import EXAMPLE_TOOLS
from core.content.images import image_from_path
from core.content.tools import parse_tools
from core.ledger import LedgerFilter
from core.types import Message, ToolChoice
from tests.gui.conftest import png, sample_records

N = 100_000


@pytest.fixture
def big_bridge(make_bridge):
    bridge = make_bridge()
    bridge.engine.ledger.record_many(sample_records(N))
    return bridge


def test_model_pages_through_100k_rows(qtbot, big_bridge):
    """Only the count and the pages a view asks for are read, never all rows.

    No model tester here: Qt's tester re-walks every cell on every signal (about 28 s
    per pass at 100k rows); the same model is tester-checked below on a smaller ledger.
    """
    view = HistoryView(big_bridge)
    qtbot.addWidget(view)
    view.resize(1000, 600)
    view.show()
    model = view.model
    qtbot.waitUntil(lambda: model.rowCount() == N, timeout=10000)
    assert view.count_label.text() == f"{N:,} requests"

    qtbot.waitUntil(lambda: model.record_at(0) is not None)
    assert model.record_at(0).request_id == f"req_bulk_{N - 1:07d}"  # newest first
    view.table.scrollToBottom()
    qtbot.waitUntil(lambda: model.record_at(N - 1) is not None)
    assert model.record_at(N - 1).request_id == "req_bulk_0000000"
    assert model.data(model.index(N - 1, 1)) in ("ok", "error", "refused", "cancelled")
    for row in (N // 2, 12_345):
        qtbot.waitUntil(lambda row=row: model.record_at(row) is not None)
        assert model.record_at(row).request_id == f"req_bulk_{N - 1 - row:07d}"
    assert model.pages_fetched <= 8

    for page in range(MAX_PAGES + 10):  # the page cache stays bounded
        model.record_at(page * PAGE_SIZE)
    qtbot.waitUntil(lambda: model.pages_fetched >= MAX_PAGES + 10, timeout=20000)
    assert len(model._pages) <= MAX_PAGES


def test_model_checked_through_filters_pages_and_inserts(qtbot, qtmodeltester, make_bridge):
    bridge = make_bridge()
    records = sample_records(700)
    bridge.engine.ledger.record_many(records)
    model = HistoryTableModel(bridge, page_size=50)
    qtmodeltester.check(model)
    model.set_filters(LedgerFilter())
    qtbot.waitUntil(lambda: model.rowCount() == 700)
    for row in (0, 120, 699):
        qtbot.waitUntil(lambda row=row: model.record_at(row) is not None)

    model.set_filters(LedgerFilter(status="refused", tier="fast"))
    expected = sum(1 for r in records if r.status == "refused" and r.tier == "fast")
    qtbot.waitUntil(lambda: model.rowCount() == expected)
    qtbot.waitUntil(lambda: model.record_at(0) is not None)
    assert model.record_at(0).status == "refused" and model.record_at(0).tier == "fast"

    model.set_filters(LedgerFilter())
    qtbot.waitUntil(lambda: model.rowCount() == 700)
    extra = sample_records(3, days=0)
    for i, rec in enumerate(extra):
        rec.request_id = f"req_new_{i}"
    bridge.engine.ledger.record_many(extra)  # as if another process wrote them
    with qtbot.waitSignal(model.rowsInserted):
        model.refresh()
    assert model.rowCount() == 703
    qtbot.waitUntil(lambda: model.record_at(0) is not None)
    assert model.record_at(0).request_id.startswith("req_new_")


def test_view_detail_json_and_export(qtbot, qtmodeltester, make_bridge, tmp_path):
    bridge = make_bridge()
    bridge.engine.ledger.record_many(sample_records(500))
    view = HistoryView(bridge)
    qtbot.addWidget(view)
    qtmodeltester.check(view.model)
    qtbot.waitUntil(lambda: view.model.rowCount() == 500)
    assert view.count_label.text() == "500 requests"

    view.table.selectRow(0)
    qtbot.waitUntil(lambda: view.detail.toPlainText() != "")
    shown = json.loads(view.detail.toPlainText())
    assert shown["request_id"] == "req_bulk_0000499" and shown["usage"]["input_tokens"] > 0

    view.status.setCurrentText("cancelled")
    qtbot.waitUntil(lambda: view.model.rowCount() == sum(1 for i in range(500) if i % 7 == 6))
    view.text.setText("number 13")
    matches = sum(1 for i in range(500) if i % 7 == 6 and "number 13" in f"prompt number {i}")
    qtbot.waitUntil(lambda: view.model.rowCount() == matches, timeout=3000)

    qtbot.waitUntil(lambda: view.model_choice.count() == 4)  # any + three models
    out = tmp_path / "history.jsonl"
    view.export_to(out, "jsonl")
    qtbot.waitUntil(lambda: out.exists() and len(out.read_text().splitlines()) == 500)
    out_csv = tmp_path / "history.csv"
    view.export_to(out_csv, "csv")
    qtbot.waitUntil(lambda: out_csv.exists() and len(out_csv.read_text().splitlines()) == 501)


def test_detail_shows_tools_images_results_and_tool_calls(qtbot, make_bridge, tmp_path):
    bridge = make_bridge()
    engine = bridge.engine
    tools = parse_tools(EXAMPLE_TOOLS)
    image = image_from_path(png(tmp_path / "street.png", 512, 512))

    async def ask_twice():
        first = await engine.ask(
            "Weather here?", model="fast", tools=tools, images=[image],
            tool_choice=ToolChoice("tool", "get_weather"),
        ).collect()  # fmt: skip
        history = [
            Message("user", "Weather here?", images=(image,)),
            Message("assistant", first.response, tool_calls=tuple(first.tool_calls)),
        ]
        turn = [Message("tool", "21 °C", tool_call_id=c.id) for c in first.tool_calls]
        second = await engine.ask(
            "21 °C", model="fast", tools=tools, history=history, turn=turn
        ).collect()
        return first, second

    first, second = bridge.run(ask_twice()).result(20)
    view = HistoryView(bridge)
    qtbot.addWidget(view)
    qtbot.waitUntil(lambda: view.model.rowCount() == 2)

    view.table.selectRow(1)  # the first request: tools, an image, a tool call
    qtbot.waitUntil(lambda: view.detail.toPlainText() != "")
    text = view.content.toPlainText()
    assert not view.content.isHidden()
    call = first.tool_calls[0]
    assert text.startswith(f"Tool calls in the reply (1)\n    get_weather ({call.id})\n")
    assert f"sha256 {image.sha256[:16]}… · image/png · 512×512 · " in text
    [shown] = first.request_detail["images"]
    assert f"{shown['tokens']} tokens · detail auto" in text
    assert "Tools (2) · tool choice: tool:get_weather\n    get_weather — The current" in text
    assert '        {"type": "object", "properties": {"city": ' in text
    record = json.loads(view.detail.toPlainText())
    assert record["tool_calls"] == [call.as_dict()]
    assert record["request"]["tool_choice"] == "tool:get_weather"

    view.table.selectRow(0)  # the second: the tool result it sent
    qtbot.waitUntil(lambda: "Tool results sent" in view.content.toPlainText())
    assert f"Tool results sent (1)\n    {call.id} →\n        21 °C" in view.content.toPlainText()

    out = tmp_path / "history.jsonl"
    view.export_to(out, "jsonl")
    qtbot.waitUntil(lambda: out.exists() and len(out.read_text().splitlines()) == 2)
    rows = {r["request_id"]: r for r in map(json.loads, out.read_text().splitlines())}
    assert rows[first.request_id]["tool_calls"] == [call.as_dict()]
    assert rows[first.request_id]["request"]["images"][0]["sha256"] == image.sha256
    assert rows[second.request_id]["request"]["tool_results"][0]["content"] == "21 °C"


def test_a_plain_request_has_no_content_pane(qtbot, make_bridge):
    bridge = make_bridge()
    bridge.engine.ledger.record_many(sample_records(3))
    view = HistoryView(bridge)
    qtbot.addWidget(view)
    qtbot.waitUntil(lambda: view.model.rowCount() == 3)
    view.table.selectRow(0)
    qtbot.waitUntil(lambda: view.detail.toPlainText() != "")
    assert view.content.isHidden() and view.content.toPlainText() == ""
