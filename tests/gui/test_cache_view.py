"""The cache browser: paged entries, search by meaning, evict, clear, threshold tuner.

The engines here run the default cache, with the learned pair verifier (each loads
MiniLM once, for both the search and the verifier); the rules-mode tuner test sets
``verifier = "rules"``.
"""

from __future__ import annotations

import json
import time

import pytest

pytest.importorskip("PySide6")

from PySide6.QtCore import Qt

from app.cache.model import CacheEntriesModel, evidence_text, threshold_text
from app.cache.tuner import DEV_CURVE_TITLE
from app.cache.view import CacheView
from app.main_window import AppContext, MainWindow
from core.cache.evidence import EntryThreshold
from core.engine import Engine
from tests.gui.conftest import no_keyring

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
    # The verifier is on: every entry shows the shared threshold and no evidence yet.
    shared = cached_bridge.engine.cache().serve_threshold
    column = model.column_of
    assert model.data(model.index(0, column("Threshold"))) == f"{shared:.3f} shared"
    assert model.data(model.index(last, column("Evidence"))) == "–"
    assert column("Created") == column("Evidence") + 1


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
    similarity = view.model.column_of("Similarity")
    assert similarity == view.model.columnCount() - 1
    assert view.model.headerData(similarity, Qt.Orientation.Horizontal) == "Similarity"
    assert view.model.entry_at(0).prompt == PROMPTS[0]
    assert float(view.model.data(view.model.index(0, similarity))) > 0.7
    assert view.model.thresholds is not None  # search results show thresholds too

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


PAIRS = [
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


def write_pairs(path):
    path.write_text("\n".join(json.dumps(p) for p in PAIRS) + "\n")
    return path


def test_tuner_in_rules_mode_plots_cosine_rates_and_marks_thresholds(qtbot, make_bridge, tmp_path):
    path = write_pairs(tmp_path / "pairs.jsonl")
    bridge = make_bridge('[cache]\nverifier = "rules"\nsimilarity_threshold = 0.84\n')
    view = CacheView(bridge)
    qtbot.addWidget(view)
    tuner = view.tuner
    with qtbot.waitSignal(tuner.tuned, timeout=30000):
        tuner.run(path)
    report = tuner.report
    assert report is not None and report.pairs == 4 and report.scale == "cosine"
    assert tuner.bound.isHidden()  # no error bound to set without the verifier
    xs, ys = tuner.hit_curve.getData()
    assert list(xs) == [r.threshold for r in report.rows]
    assert max(ys) <= 100 and ys[0] == 100.0  # percent: both paraphrases served at 0.70
    _xs, false_ys = tuner.false_curve.getData()
    assert all(0 <= y <= 100 for y in false_ys)
    assert tuner.configured_line.value() == pytest.approx(0.84)
    assert tuner.configured_line.label.format == "configured 0.84"
    axis = tuner.plot.getPlotItem().getAxis
    assert axis("left").labelText == "paraphrase hit rate (%)"
    assert axis("right").labelText == "false-hit rate (%)"  # its own scale
    assert axis("bottom").labelText == "similarity threshold"
    assert "4 pairs" in tuner.status.text()

    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"a": "x"}\n')
    tuner.run(bad)
    qtbot.waitUntil(lambda: tuner.status.text().startswith("✗"), timeout=10000)
    assert "missing key 'b'" in tuner.status.text()


# -- per-entry thresholds and evidence (the learned verifier) ------------------------

PARAPHRASE = "What is France's capital city?"  # the verifier serves PROMPTS[0]'s answer


def serve_paraphrase(engine: Engine, request_id: str) -> int:
    """Look the paraphrase up as a request would: a semantic hit files "served"
    evidence under ``request_id``. Returns the entry served."""
    cache = engine.cache()
    entry = next(e for e in cache.entries(0, 50) if e.prompt == PROMPTS[0])
    result = cache.lookup_detailed(
        PARAPHRASE,
        entry.namespace,
        entry.tier_rank,
        time.time(),
        engine.config.cache.similarity_threshold,
        request_id=request_id,
    )
    assert result.hit is not None and result.hit.outcome == "semantic", result.rejections
    assert result.hit.entry_id == entry.id
    return entry.id


def test_entries_show_their_threshold_and_evidence(qtbot, qtmodeltester, cached_bridge):
    engine = cached_bridge.engine
    cache = engine.cache()
    assert cache.verifier is not None
    entry_id = serve_paraphrase(engine, "req_para_1")
    serve_paraphrase(engine, "req_para_2")
    serve_paraphrase(engine, "req_para_3")  # stays pending: no verdict
    assert cache.judge("req_para_1", correct=True) == 1
    assert cache.judge("req_para_2", correct=False) == 1
    limit = cache.entry_thresholds([entry_id])[entry_id]
    assert limit.threshold > limit.shared and limit.reason.startswith("raised")

    view = CacheView(cached_bridge)
    qtbot.addWidget(view)
    view.resize(1200, 800)
    with qtbot.waitSignal(view.model.loaded, timeout=20000):
        view.show()
    model = view.model
    qtmodeltester.check(model)
    row = next(r for r in range(model.rowCount()) if model.entry_at(r).id == entry_id)
    other = (row + 1) % model.rowCount()
    threshold, evidence = model.column_of("Threshold"), model.column_of("Evidence")
    assert model.headerData(threshold, Qt.Orientation.Horizontal) == "Threshold"
    raised = "never (raised)" if limit.threshold > 1 else f"{limit.threshold:.3f} raised"
    assert model.data(model.index(row, threshold)) == raised
    assert model.data(model.index(row, evidence)) == "1 right · 1 wrong"
    tip = model.data(model.index(row, threshold), Qt.ItemDataRole.ToolTipRole)
    assert limit.reason in tip and f"{limit.shared:.3f}" in tip
    assert model.data(model.index(other, threshold)) == f"{cache.serve_threshold:.3f} shared"
    assert model.data(model.index(other, evidence)) == "–"

    # Selecting the entry lists its evidence, newest first, under its reason.
    with qtbot.waitSignal(view.detail.loaded, timeout=10000):
        view.table.selectRow(row)
    detail = view.detail.model
    qtmodeltester.check(detail)
    assert detail.rowCount() == 3
    cells = [[detail.data(detail.index(r, c)) for c in range(4)] for r in range(3)]
    assert sorted(c[2] for c in cells) == ["pending", "right", "wrong"]
    served = {e.request_id: e for e in cache.evidence(entry_id)}
    for r, (_when, score, outcome, source) in enumerate(cells):
        ev = detail.rows[r]
        assert score == f"{served[ev.request_id].score:.3f}"
        assert source == ("served" if outcome == "pending" else "feedback")
    assert [e.at for e in detail.rows] == sorted((e.at for e in detail.rows), reverse=True)
    summary = view.detail.summary.text()
    assert limit.reason in summary
    assert "1 right, 1 wrong, 1 pending" in summary

    # Another entry: the shared threshold, no evidence; two selected: no detail.
    with qtbot.waitSignal(view.detail.loaded, timeout=10000):
        view.table.selectRow(other)
    assert view.detail.model.rowCount() == 0
    assert "No evidence yet" in view.detail.summary.text()
    view.table.selectAll()
    assert view.detail.entry is None and view.detail.model.rowCount() == 0


def test_threshold_and_evidence_texts():
    def limit(threshold, right=0, wrong=0):
        return EntryThreshold(threshold, 0.965, right, wrong, "why")

    assert threshold_text(limit(0.965)) == "0.965 shared"
    assert threshold_text(limit(0.982, wrong=1)) == "0.982 raised"
    assert threshold_text(limit(0.93, right=300)) == "0.930 lowered"
    assert threshold_text(limit(1.004, wrong=1)) == "never (raised)"  # scores stop at 1
    assert evidence_text(limit(0.965)) == "–"
    assert evidence_text(limit(0.93, right=1200, wrong=0)) == "1,200 right · 0 wrong"


def test_rules_mode_has_no_threshold_columns(qtbot, qtmodeltester, make_bridge):
    bridge = make_bridge('[cache]\nverifier = "rules"\n')
    bridge.run(bridge.engine.ask(PROMPTS[0], model="fast").collect()).result(30)
    view = CacheView(bridge)
    qtbot.addWidget(view)
    with qtbot.waitSignal(view.model.loaded, timeout=20000):
        view.show()
    qtmodeltester.check(view.model)
    assert view.model.thresholds is None
    assert view.model.column_of("Threshold") == view.model.column_of("Evidence") == -1
    assert view.model.columnCount() == 6
    with qtbot.waitSignal(view.detail.loaded, timeout=10000):
        view.table.selectRow(0)
    assert 'verifier = "rules"' in view.detail.summary.text()


# -- the tuner with the learned verifier ---------------------------------------------


def test_tuner_shows_the_dev_curve_and_applies_the_error_bound(
    qtbot, make_bridge, settings, tmp_path
):
    bridge = make_bridge()
    engine = bridge.engine

    def opener(config):
        return Engine.open(config, engine.data_dir, events=engine.events)

    path = tmp_path / "cfg" / "config.toml"
    window = MainWindow(AppContext(bridge, path, no_keyring(), opener), settings)
    qtbot.addWidget(window)
    window.resize(1280, 820)
    view = window.view("cache")
    tuner = view.tuner
    qtbot.waitUntil(lambda: tuner.dev_model is not None, timeout=20000)  # read off-thread
    model = engine.cache().verifier.model
    assert tuner.dev_model is model

    # No pairs loaded: the verifier's own dev curve, in percent, on its score scale.
    xs, hits = tuner.hit_curve.getData()
    _xs, false_hits = tuner.false_curve.getData()
    assert list(xs) == [p.threshold for p in model.curve]
    assert list(hits) == [100 * p.hit_rate for p in model.curve]
    assert list(false_hits) == [100 * p.false_hit_rate for p in model.curve]
    item = tuner.plot.getPlotItem()
    assert item.titleLabel.text == DEV_CURVE_TITLE == "Pair verifier: dev split, out of fold"
    assert item.getAxis("bottom").labelText == "verifier score threshold"
    assert "dev split" in tuner.status.text()
    chosen = engine.cache().serve_threshold
    assert chosen == model.threshold_for(engine.config.cache.max_error_rate)
    assert tuner.configured_line.value() == pytest.approx(chosen)
    assert tuner.configured_line.label.format == f"serves at {chosen:.3f}"
    assert not tuner.recommended_line.isVisible()
    # False hits on the right axis, up to four times the bound (1% -> 4%).
    assert tuner.false_box.viewRange()[1] == pytest.approx([0, 4.0])
    assert not tuner.bound.isHidden() and not tuner.bound.apply_button.isEnabled()
    assert tuner.bound.spin.value() == pytest.approx(100 * engine.config.cache.max_error_rate)

    # A looser bound: the line previews where it would serve; Apply writes and re-opens.
    tuner.bound.spin.setValue(5.0)
    looser = model.threshold_for(0.05)
    assert looser < chosen
    assert tuner.configured_line.value() == pytest.approx(looser)
    assert tuner.configured_line.label.format == f"would serve at {looser:.3f}"
    assert tuner.bound.apply_button.isEnabled()
    old_dashboard = window.view("dashboard")
    with qtbot.waitSignal(view.engine_reopened, timeout=20000):
        tuner.bound.apply_button.click()
    assert bridge.engine is not engine
    assert bridge.engine.config.cache.max_error_rate == pytest.approx(0.05)
    assert "max_error_rate = 0.05" in path.read_text()
    assert window.view("cache") is view  # kept, with the user's curve
    assert window.view("dashboard") is not old_dashboard  # rebuilt over the new engine
    assert window.view("settings").cache_form.widget("max_error_rate").value() == 0.05
    qtbot.waitUntil(lambda: tuner.configured_line.label.format == f"serves at {looser:.3f}")
    assert not tuner.bound.apply_button.isEnabled()


def test_tuner_plots_the_verifier_curve_on_pairs_and_retunes_after_apply(
    qtbot, make_bridge, tmp_path
):
    pairs = write_pairs(tmp_path / "pairs.jsonl")
    bridge = make_bridge()
    engine = bridge.engine

    def opener(config):
        return Engine.open(config, engine.data_dir, events=engine.events)

    view = CacheView(bridge, tmp_path / "config.toml", opener)
    qtbot.addWidget(view)
    tuner = view.tuner
    with qtbot.waitSignal(tuner.tuned, timeout=30000):
        tuner.run(pairs)
    report = tuner.report
    assert report is not None and report.scale == "verifier" and report.pairs == 4
    chosen = engine.cache().serve_threshold
    assert report.chosen == chosen
    xs, hits = tuner.hit_curve.getData()
    assert list(xs) == [r.threshold for r in report.rows]
    assert list(hits) == [100 * r.hit_rate for r in report.rows]
    _xs, false_hits = tuner.false_curve.getData()
    assert list(false_hits) == [100 * r.false_hit_rate for r in report.rows]
    item = tuner.plot.getPlotItem()
    assert item.titleLabel.text == "Pair verifier on pairs.jsonl"
    assert item.getAxis("bottom").labelText == "verifier score threshold"
    assert tuner.configured_line.value() == pytest.approx(chosen)
    assert tuner.configured_line.label.format == f"serves at {chosen:.3f}"
    if report.recommended is None:
        assert not tuner.recommended_line.isVisible()
    else:
        assert tuner.recommended_line.value() == pytest.approx(report.recommended)
        assert tuner.recommended_line.label.format == f"recommended {report.recommended:.3f}"
    assert f"current settings serve at {chosen:.3f}" in tuner.status.text()
    assert "in-sample" not in tuner.status.text()
    # Pairs the verifier was trained on (by the file's name): the curve is in-sample.
    trained = write_pairs(tmp_path / "cache_pairs_dev.jsonl")
    assert "cache_pairs_dev" in tuner.dev_model.trained_on["sources"]
    with qtbot.waitSignal(tuner.tuned, timeout=30000):
        tuner.run(trained)
    assert "this curve is in-sample" in tuner.status.text()

    # Applying a tighter bound re-tunes on the same pairs with the new settings.
    tuner.bound.spin.setValue(0.5)
    with qtbot.waitSignal(tuner.tuned, timeout=30000):
        tuner.bound.apply()
    tighter = bridge.engine.cache().serve_threshold
    assert tighter == bridge.engine.cache().verifier.model.threshold_for(0.005)
    assert tuner.report is not report and tuner.report.chosen == tighter
    assert tuner.report.max_hard_false_hit_rate == pytest.approx(0.005)
    assert tuner.configured_line.label.format == f"serves at {tighter:.3f}"
