"""The cache browser: paged entries, search by meaning, evict, clear, threshold tuner."""

from __future__ import annotations

import json

import pytest

pytest.importorskip("PySide6")

from PySide6.QtCore import Qt

from app.cache.model import CacheEntriesModel
from app.cache.view import CacheView

PROMPTS = [
    "What is the capital of France?",
    "How do I reverse a list in Python?",
    "Explain photosynthesis in one sentence.",
    "What is the boiling point of water at sea level?",
    "Name three prime numbers.",
]


@pytest.fixture
def cached_bridge(make_bridge):
    bridge = make_bridge()
    for prompt in PROMPTS:
        future = bridge.run(bridge.engine.ask(prompt, model="fast").collect())
        assert future.result(30).cache_outcome == "miss"
    hit = bridge.run(bridge.engine.ask(PROMPTS[0], model="fast").collect()).result(30)
    assert hit.cache_outcome == "exact"
    return bridge


def test_model_pages_in_entries(qtbot, qtmodeltester, cached_bridge):
    model = CacheEntriesModel(cached_bridge, page_size=2)
    with qtbot.waitSignal(model.loaded, timeout=20000):
        model.reload()
    assert (model.rowCount(), model.total) == (2, 5)
    qtmodeltester.check(model)

    def fetched_all() -> bool:
        model.fetchMore()  # what a view does at the end of the list; no-op while fetching
        return model.rowCount() == 5

    qtbot.waitUntil(fetched_all, timeout=10000)
    assert not model.canFetchMore()
    qtmodeltester.check(model)
    assert [model.entry_at(r).prompt for r in range(5)] == PROMPTS[::-1]  # newest first
    last = model.rowCount() - 1
    assert model.data(model.index(last, 0)) == PROMPTS[0]
    assert model.data(model.index(last, 3)) == "1"  # one hit
    assert model.data(model.index(last, 4)).startswith("$0.0000")  # what that hit saved
    assert model.data(model.index(last, 1)) == "fast"


def test_view_searches_evicts_and_clears(qtbot, qtmodeltester, cached_bridge):
    view = CacheView(cached_bridge)
    qtbot.addWidget(view)
    view.resize(1000, 700)
    with qtbot.waitSignal(view.model.loaded, timeout=20000):
        view.show()
    assert view.count_label.text() == "5 of 5 entries"

    view.search_field.setText("Which city is France's capital?")
    with qtbot.waitSignal(view.model.loaded, timeout=10000):
        view.search()
    qtmodeltester.check(view.model)
    assert view.model.headerData(6, Qt.Orientation.Horizontal) == "Similarity"
    assert view.model.entry_at(0).prompt == PROMPTS[0]
    assert float(view.model.data(view.model.index(0, 6))) > 0.7

    view.table.selectRow(0)
    assert view.selected_ids() == [view.model.entry_at(0).id]
    with qtbot.waitSignal(view.model.loaded, timeout=10000):
        view.evict_selected()
    assert PROMPTS[0] not in [e.prompt for e in view.model.entries]

    with qtbot.waitSignal(view.model.loaded, timeout=10000):
        view.show_all()
    assert view.model.total == 4

    view.confirm_clear = lambda: False  # Cancel keeps everything
    view.clear()
    qtbot.wait(100)
    assert view.model.total == 4
    view.confirm_clear = lambda: True
    with qtbot.waitSignal(view.model.loaded, timeout=10000):
        view.clear()
    assert (view.model.total, view.model.rowCount()) == (0, 0)
    assert view.count_label.text() == "0 of 0 entries"


def test_tuner_plots_rates_in_percent_and_marks_thresholds(qtbot, make_bridge, tmp_path):
    pairs = [
        {
            "a": "What is the capital of France?",
            "b": "Which city is France's capital?",
            "same": True,
        },
        {"a": "How do I sort a list in Python?", "b": "Sorting a Python list, how?", "same": True},
        {
            "a": "Convert 5 km to miles",
            "b": "Convert 50 km to miles",
            "same": False,
            "category": "number",
        },
        {
            "a": "What is a cat?",
            "b": "How do rockets reach orbit?",
            "same": False,
            "category": "unrelated",
        },
    ]
    path = tmp_path / "pairs.jsonl"
    path.write_text("\n".join(json.dumps(p) for p in pairs) + "\n")
    bridge = make_bridge()
    view = CacheView(bridge)
    qtbot.addWidget(view)
    tuner = view.tuner
    with qtbot.waitSignal(tuner.tuned, timeout=30000):
        tuner.run(path)
    report = tuner.report
    assert report is not None and report.pairs == 4
    xs, ys = tuner.hit_curve.getData()
    assert list(xs) == [r.threshold for r in report.rows]
    assert max(ys) <= 100 and ys[0] == 100.0  # percent: both paraphrases served at 0.70
    _xs, false_ys = tuner.false_curve.getData()
    assert all(0 <= y <= 100 for y in false_ys)
    assert tuner.configured_line.value() == pytest.approx(0.84)
    assert tuner.configured_line.label.format == "configured 0.84"
    axis = tuner.plot.getPlotItem().getAxis
    assert axis("left").labelText == "pairs served (%)"
    assert axis("bottom").labelText == "similarity threshold"
    assert "4 pairs" in tuner.status.text()

    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"a": "x"}\n')
    tuner.run(bad)
    qtbot.waitUntil(lambda: tuner.status.text().startswith("✗"), timeout=10000)
    assert "missing key 'b'" in tuner.status.text()
