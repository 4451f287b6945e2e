"""Compare view: one prompt streamed into several columns, judged; a picked winner votes."""

from __future__ import annotations

import pytest

pytest.importorskip("PySide6")

from PySide6.QtWidgets import QFileDialog

from app.compare.view import CompareView, judged_winner
from app.widgets.formatting import fmt_usd
from tests.gui.conftest import png

PROMPT = "Explain what a token is, in two sentences."


@pytest.fixture
def compare(qtbot, make_bridge):
    view = CompareView(make_bridge())
    qtbot.addWidget(view)
    view.prompt.setPlainText(PROMPT)
    return view


def _run(qtbot, view: CompareView) -> None:
    with qtbot.waitSignal(view.compared, timeout=20000):
        view.compare_button.click()
    assert not view.running and view.compare_button.isEnabled()


def test_every_column_fills_and_the_judge_picks_one(qtbot, compare):
    assert compare.targets() == ["fast", "balanced", "premium"]
    compare.judge.setChecked(True)
    _run(qtbot, compare)
    columns = compare.active_columns()
    assert [c.target for c in columns] == ["fast", "balanced", "premium"]
    assert compare.columns[3].isHidden()
    for column in columns:
        rec = column.record
        assert rec is not None and rec.status == "ok"
        assert rec.tier == column.target and rec.route_mode == "explicit"
        assert rec.purpose == "user" and rec.cache_outcome == "miss"
        assert column.output.toPlainText() == rec.response != ""
        assert column.cost_label.text() == fmt_usd(rec.cost_usd)
        assert column.cost_label.property("badge") == "primary"
        assert column.property("tier") == column.target
        assert "TTFT" in column.timing_label.text()
        assert column.tokens_label.text().startswith(f"tokens in {rec.usage.input_tokens}")
        assert column.verdict is not None and column.verdict.score is not None
        assert column.judge_label.text().startswith(f"judge: {column.verdict.score:g}/10")
        assert column.pick_button.isEnabled()
    winners = [i for i, c in enumerate(columns) if not c.winner_label.isHidden()]
    expected = judged_winner([(c.verdict, c.record.cost_usd) for c in columns])
    assert winners == [expected]
    assert f"winner: {columns[expected].target}" in compare.hint.text()


def test_picking_a_winner_stores_feedback(qtbot, compare):
    engine = compare.bridge.engine
    _run(qtbot, compare)
    assert all(c.winner_label.isHidden() for c in compare.active_columns())  # not judged
    balanced = compare.columns[1]
    with qtbot.waitSignal(compare.feedback_stored, timeout=10000) as blocker:
        balanced.pick_button.click()
    assert blocker.args == [balanced.record.request_id]
    quality = {q.tier: q for q in engine.tier_quality()}
    assert (quality["balanced"].feedback_up, quality["balanced"].feedback_down) == (1, 0)
    assert (quality["fast"].feedback_up, quality["fast"].feedback_down) == (0, 1)
    assert (quality["premium"].feedback_up, quality["premium"].feedback_down) == (0, 1)
    assert balanced.pick_button.text() == "Picked ✓"
    assert compare.columns[0].pick_button.text() == "Pick as winner"


def test_targets_are_two_to_four_and_a_typed_model_counts(qtbot, compare):
    for tier in ("balanced", "premium"):
        compare.tier_boxes[tier].setChecked(False)
    compare.run()
    assert not compare.running and "(1 chosen)" in compare.hint.text()
    compare.other_model.setText("simulator/gpt-4.1")
    assert compare.targets() == ["fast", "simulator/gpt-4.1"]
    _run(qtbot, compare)
    typed = compare.columns[1]
    assert typed.record.model == "gpt-4.1" and typed.output.toPlainText()
    assert compare.columns[2].isHidden()


def test_judged_winner_prefers_the_cheaper_of_a_tie():
    from decimal import Decimal

    from core.quality.judge import Verdict

    entries = [
        (Verdict(8, "good"), Decimal("0.002")),
        (Verdict(8, "good"), Decimal("0.001")),
        (None, Decimal(0)),
        (Verdict(None, "unscored"), Decimal(0)),
    ]
    assert judged_winner(entries) == 1
    assert judged_winner([(None, None)]) is None


def test_columns_stream_at_the_same_time(qtbot, make_bridge):
    view = CompareView(make_bridge(latency_scale=1))
    qtbot.addWidget(view)
    view.prompt.setPlainText("Write a long essay about the history of computing, step by step.")
    with qtbot.waitSignal(view.compared, timeout=30000):
        view.compare_button.click()
        assert not view.compare_button.isEnabled()
        # Every column has text while the slowest is still streaming.
        qtbot.waitUntil(
            lambda: all(c.output.toPlainText() for c in view.active_columns()), timeout=20000
        )
        assert view.running
    assert all(c.record.status == "ok" for c in view.active_columns())


def test_tools_json_and_images_go_to_every_column(qtbot, compare, tmp_path, monkeypatch):
    path = png(tmp_path / "map.png", 800, 600)
    monkeypatch.setattr(QFileDialog, "getOpenFileNames", lambda *a, **k: ([str(path)], ""))
    compare.extras.images.add_button.click()
    compare.extras.tools.insert_example()
    qtbot.waitUntil(lambda: compare.extras.tools.choice.count() == 5)
    choice = compare.extras.tools.choice
    choice.setCurrentIndex(choice.findData("required"))
    compare.judge.setChecked(True)
    _run(qtbot, compare)
    columns = compare.active_columns()
    assert len(columns) == 3
    for column in columns:
        rec = column.record
        assert rec.status == "ok" and rec.finish_reason == "tool_calls"
        detail = rec.request_detail
        assert [t["name"] for t in detail["tools"]] == ["get_weather", "get_local_time"]
        assert detail["tool_choice"] == "required"
        [image] = detail["images"]
        assert (image["width"], image["height"]) == (800, 600)
        assert column.tool_calls.calls == rec.tool_calls and not column.tool_calls.isHidden()
        assert column.tool_calls.cards[0].result is None  # no manual loop in Compare
        assert column.verdict is not None  # the judge read the tool calls
    tokens = [c.caption.text() for c in compare.extras.images.cards]
    assert tokens and tokens[0].endswith("tokens")


def test_json_output_is_checked_in_every_column(qtbot, compare):
    compare.extras.json_output.set_mode("object")
    _run(qtbot, compare)
    for column in compare.active_columns():
        assert column.record.request_detail["response_format"] == {"type": "json_object"}
        qtbot.waitUntil(lambda c=column: not c.json_check.isHidden())
        assert column.json_check.text() == "✓ The reply is a JSON object."


def test_a_wrong_schema_stops_compare(qtbot, compare):
    compare.extras.json_output.set_mode("schema")
    compare.extras.json_output.schema.text.setPlainText('{"type": 5}')
    compare.run()
    qtbot.waitUntil(lambda: not compare.running)
    assert compare.hint.text().startswith("Cannot send: JSON Schema: schema['type']:")
    assert all(c.isHidden() for c in compare.columns)
