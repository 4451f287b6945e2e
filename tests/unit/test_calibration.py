"""Calibration: boundary search, the RouteLLM curve, and the minimal TOML writer."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest

from core.config import CentwiseConfig, parse_config
from core.errors import ConfigError, InputError
from core.quality.calibration import (
    ItemResults,
    calibrate,
    cost_quality_curve,
    load_results,
    save_results,
)
from core.resources import resource_path
from core.routing.boundaries import set_tier_boundaries, write_tier_boundaries

TIERS = ["fast", "balanced", "premium"]
COST = {"fast": Decimal("0.001"), "balanced": Decimal("0.01"), "premium": Decimal("0.1")}


def _results(fast_quality: float) -> list[ItemResults]:
    """Ten items, scores 0.5..9.5. Premium is perfect, balanced slips on hard items,
    fast does well on easy ones (``fast_quality``) and badly on the rest."""
    out = []
    for i in range(10):
        score = i + 0.5
        q = {
            "fast": fast_quality if score < 4 else 0.2,
            "balanced": 1.0 if score < 7 else 0.6,
            "premium": 1.0,
        }
        out.append(ItemResults(f"i{i}", score, dict(q), dict(COST)))
    return out


OLD = {"fast": 3.0, "balanced": 6.0}


def test_calibration_finds_the_cheapest_boundaries_meeting_the_target():
    r = calibrate(_results(1.0), TIERS, OLD, target_retention=0.95)
    assert r.feasible and r.retention is not None and r.retention >= 0.95
    # Midpoints between item scores; one hard item on balanced (0.6) still meets 0.95.
    assert r.boundaries == {"fast": 4.0, "balanced": 8.0}
    assert r.tier_share == {"fast": 0.4, "balanced": 0.4, "premium": 0.2}
    assert r.retention == pytest.approx(0.96)
    assert r.cost_usd == 4 * COST["fast"] + 4 * COST["balanced"] + 2 * COST["premium"]
    assert r.strong_cost_usd == 10 * COST["premium"]


def test_boundaries_move_down_when_a_cheaper_tiers_quality_drops():
    good = calibrate(_results(1.0), TIERS, OLD, target_retention=0.95)
    worse = calibrate(_results(0.5), TIERS, OLD, target_retention=0.95)
    assert worse.boundaries["fast"] < good.boundaries["fast"]
    assert worse.tier_share["fast"] < good.tier_share["fast"]
    assert worse.retention is not None and worse.retention >= 0.95
    assert worse.cost_usd > good.cost_usd  # quality costs money


def test_a_lower_target_routes_more_to_cheap_tiers():
    strict = calibrate(_results(1.0), TIERS, OLD, target_retention=1.0)
    loose = calibrate(_results(1.0), TIERS, OLD, target_retention=0.8)
    assert loose.cost_usd < strict.cost_usd
    assert strict.retention == pytest.approx(1.0)


def test_premium_share_limit():
    r = calibrate(_results(1.0), TIERS, OLD, premium_share=0.1)
    assert r.tier_share["premium"] <= 0.1 and r.feasible
    assert r.target_retention is None and r.premium_share_limit == 0.1


def test_unscored_items_are_left_out_and_all_unscored_is_an_error():
    results = _results(1.0)
    results[0] = ItemResults("i0", 0.5, {"fast": None, "balanced": 1.0, "premium": 1.0}, COST)
    r = calibrate(results, TIERS, OLD)
    assert (r.items_used, r.items_unscored) == (9, 1)
    with pytest.raises(InputError, match="nothing to calibrate"):
        calibrate([results[0]], TIERS, OLD)


def test_cost_quality_curve_matches_routellm_definitions():
    # Weak quality 0 everywhere; strong 1 on the two hardest items only.
    res = [
        ItemResults(f"i{i}", float(i), {"fast": 0.0, "premium": 1.0 if i >= 2 else 0.0}, COST)
        for i in range(4)
    ]
    points, apgr, cpt50, cpt80 = cost_quality_curve(res, "fast", "premium")
    assert [p.strong_share for p in points] == [0, 0.25, 0.5, 0.75, 1.0]
    assert [p.pgr for p in points] == [0, 0.5, 1.0, 1.0, 1.0]
    # Trapezoids: (0+.5)/2*.25 + (.5+1)/2*.25 + 1*.25 + 1*.25
    assert apgr == pytest.approx(0.0625 + 0.1875 + 0.25 + 0.25)
    assert (cpt50, cpt80) == (0.25, 0.5)


def test_no_quality_gap_means_no_apgr():
    res = [ItemResults("a", 1.0, {"fast": 1.0, "premium": 1.0}, COST)]
    _, apgr, cpt50, _ = cost_quality_curve(res, "fast", "premium")
    assert apgr is None and cpt50 is None


def test_results_round_trip_and_bad_files(tmp_path: Path):
    path = tmp_path / "r.json"
    save_results(_results(0.7), path)
    assert load_results(path) == _results(0.7)
    path.write_text("{}")
    with pytest.raises(InputError, match="not a calibration results file"):
        load_results(path)


CONFIG = """# my config
schema_version = 1

[budget]
daily_usd = 5.00   # keep

[[routing.tiers]]
id = "fast"            # cheap one
provider = "simulator"
model = "gpt-4.1-nano"
max_complexity = 3     # old boundary

[[routing.tiers]]
id = "premium"
provider = "simulator"
model = "gpt-4.1"
max_complexity = 10

[providers.simulator]
kind = "simulator"
"""


def test_toml_writer_changes_only_the_numbers():
    cfg = parse_config(CONFIG)
    out = set_tier_boundaries(CONFIG, {"fast": 4.25}, cfg)
    assert out == CONFIG.replace("max_complexity = 3     #", "max_complexity = 4.25     #")
    assert parse_config(out).routing.tiers[0].max_complexity == 4.25


def test_toml_writer_appends_tiers_to_a_file_without_them(tmp_path: Path):
    path = tmp_path / "c.toml"
    path.write_text("[budget]\nmonthly_usd = 9\n")
    write_tier_boundaries(path, {"fast": 1.5, "balanced": 5.0}, CentwiseConfig())
    cfg = parse_config(path.read_text())
    assert [t.max_complexity for t in cfg.routing.tiers] == [1.5, 5.0, 10]
    assert cfg.budget.monthly_usd == Decimal(9)
    shipped = resource_path("default_config.toml").read_text("utf-8")
    out = set_tier_boundaries(shipped, {"fast": 2.0}, CentwiseConfig())
    assert parse_config(out).routing.tiers[0].max_complexity == 2.0
    assert out.count("\n") == shipped.count("\n")


def test_toml_writer_refuses_what_it_cannot_edit_safely():
    cfg = CentwiseConfig()
    with pytest.raises(ConfigError, match="inline array"):
        set_tier_boundaries("[routing]\ntiers = []\n", {"fast": 1.0}, cfg)
    with pytest.raises(ConfigError, match=r"no \[\[routing\.tiers\]\] entry"):
        set_tier_boundaries(CONFIG, {"balanced": 1.0}, parse_config(CONFIG))
    with pytest.raises(ConfigError, match="max_complexity"):  # would not load: validated
        set_tier_boundaries(CONFIG, {"premium": 5.0}, parse_config(CONFIG))
