"""Three ``centwise serve`` processes and two CLI writers on one PostgreSQL database
under a hard daily budget; one gateway is killed with SIGKILL and the database is
restarted mid-load (see team_load.py; the benchmark runs the whole 1,000 requests)."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

from tests.integration.team_load import run_team_load
from tests.pg_server import PgServer


def test_three_gateways_and_two_writers_hold_one_budget(tmp_path: Path) -> None:
    server = PgServer().init().start()  # its own: the test restarts it
    try:
        result = run_team_load(
            server,
            tmp_path,
            requests=240,
            cli_requests=6,
            daily_usd=Decimal("0.003"),
            concurrency=16,
        )
    finally:
        server.destroy()
    print(result.summary())
    assert result.spent_usd <= result.budget_usd, "the team overshot its budget"
    assert not result.missing, f"answered but not in the ledger: {sorted(result.missing)[:5]}"
    assert result.rollup_matches and result.duplicates == 0
    assert result.statuses[429] > 0, "the budget never refused: the test did not reach it"
    assert result.answered and result.cli_answered
    assert result.statuses[0] > 0 or result.statuses[503] > 0  # the faults were felt
    assert result.served_after_restart > 0, "the service did not come back"
