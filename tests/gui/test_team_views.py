"""Team mode in the views: spend per member and per app on the dashboard, and the
History's member and app columns and filters."""

from __future__ import annotations

import dataclasses
from decimal import Decimal

import pytest

pytest.importorskip("PySide6")

from PySide6.QtCore import Qt

from app.history.model import COLUMNS
from app.history.view import HistoryView
from app.spend.tables import NO_APP, NO_MEMBER
from app.spend.view import SpendDashboard
from app.widgets.formatting import fmt_usd, fmt_usd_exact
from core.types import RequestRecord
from tests.gui.conftest import sample_records

WHO = (("alice", "support-bot"), ("bob", None), (None, None), ("alice", None))


def team_records(n: int) -> list[RequestRecord]:
    """Sample requests by alice (some through the support-bot key), bob, and nobody."""
    out = []
    for i, rec in enumerate(sample_records(n, days=5)):
        member, app = WHO[i % len(WHO)]
        out.append(dataclasses.replace(rec, member=member, app=app))
    return out


def test_spend_splits_by_member_and_by_app(qtbot, make_bridge):
    bridge = make_bridge()
    records = team_records(40)
    bridge.engine.ledger.record_many(records)
    dash = SpendDashboard(bridge)
    qtbot.addWidget(dash)
    qtbot.waitUntil(lambda: dash.data is not None)
    dash.bottom_tabs.setCurrentWidget(dash.people_tab)
    assert dash.bottom_tabs.tabText(dash.bottom_tabs.currentIndex()) == "Members and apps"

    def spent(attr: str, key: str | None) -> Decimal:
        return sum(
            (r.cost_usd or Decimal(0) for r in records if getattr(r, attr) == key), Decimal(0)
        )

    members = {dash.member_table.text(i, 0): i for i in range(dash.member_table.rowCount())}
    assert set(members) == {"alice", "bob", NO_MEMBER}
    for name, key in (("alice", "alice"), ("bob", "bob"), (NO_MEMBER, None)):
        row = members[name]
        assert dash.member_table.text(row, 1) == str(sum(1 for r in records if r.member == key))
        assert dash.member_table.text(row, 2) == fmt_usd(spent("member", key))
        exact = dash.member_table.item(row, 2).toolTip()
        assert exact.startswith(fmt_usd_exact(spent("member", key)) + " exactly")
    costs = [spent("member", k) for k in ("alice", "bob", None)]
    assert dash.member_table.text(0, 0) == ("alice", "bob", NO_MEMBER)[costs.index(max(costs))]

    apps = {dash.app_table.text(i, 0): i for i in range(dash.app_table.rowCount())}
    assert set(apps) == {"support-bot", NO_APP}
    assert dash.app_table.text(apps["support-bot"], 2) == fmt_usd(spent("app", "support-bot"))
    shares = [int(dash.app_table.text(i, 3).rstrip("%")) for i in range(2)]
    assert sum(shares) in (99, 100, 101)


def test_history_shows_and_filters_member_and_app(qtbot, make_bridge):
    bridge = make_bridge()
    records = team_records(24)
    bridge.engine.ledger.record_many(records)
    view = HistoryView(bridge)
    qtbot.addWidget(view)
    view.resize(1300, 600)
    view.show()
    model = view.model
    qtbot.waitUntil(lambda: model.rowCount() == 24)
    qtbot.waitUntil(lambda: view.member_choice.count() == 3)  # any, alice, bob
    qtbot.waitUntil(lambda: view.app_choice.count() == 2)  # any, support-bot
    names = [name for name, _ in COLUMNS]
    member_col, app_col = names.index("Member"), names.index("App")
    assert model.headerData(member_col, Qt.Orientation.Horizontal) == "Member"

    assert not view.table.isColumnHidden(member_col) and not view.table.isColumnHidden(app_col)
    assert view.member_choice.isVisible() and view.app_choice.isVisible()
    view.member_choice.setCurrentText("alice")
    expected = sum(1 for r in records if r.member == "alice")
    qtbot.waitUntil(lambda: model.rowCount() == expected)
    qtbot.waitUntil(lambda: model.record_at(0) is not None)
    assert {model.data(model.index(row, member_col)) for row in range(expected)} == {"alice"}

    view.app_choice.setCurrentText("support-bot")
    expected = sum(1 for r in records if r.app == "support-bot")
    qtbot.waitUntil(lambda: model.rowCount() == expected)
    qtbot.waitUntil(lambda: model.record_at(0) is not None)
    assert model.data(model.index(0, app_col)) == "support-bot"

    view.member_choice.setCurrentText("any")
    view.app_choice.setCurrentText("any")
    qtbot.waitUntil(lambda: model.rowCount() == 24)
    qtbot.waitUntil(lambda: model.record_at(0) is not None)
    newest = records[-1]
    assert model.data(model.index(0, member_col)) == (newest.member or "–")


def test_history_hides_member_and_app_for_one_persons_ledger(qtbot, make_bridge):
    bridge = make_bridge()
    bridge.engine.ledger.record_many(
        [dataclasses.replace(r, member="me") for r in sample_records(10)]
    )
    view = HistoryView(bridge)
    qtbot.addWidget(view)
    view.show()
    qtbot.waitUntil(lambda: view.member_choice.count() == 2)  # any, me
    names = [name for name, _ in COLUMNS]
    qtbot.waitUntil(lambda: view.table.isColumnHidden(names.index("App")))
    assert view.table.isColumnHidden(names.index("Member"))
    assert not view.member_choice.isVisible() and not view.app_choice.isVisible()
