"""Team mode on a real PostgreSQL server (started by the suite, see tests/pg_server.py):
storage selection, who and what, virtual gateway keys, following across machines,
moving a SQLite history in, and failures that name the server."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import httpx
import openai
import pytest

from core.cli import main as cli_main
from core.config import parse_config
from core.engine import Engine
from core.errors import BudgetExceededError, LedgerError, StorageUnavailableError
from core.gateway import app as gateway_app
from core.ledger import Ledger
from core.ledger.postgres import PgLedger
from core.providers.simulator import SimulatorProvider
from core.types import RequestRecord
from tests.integration.gateway_support import TOKEN, running_gateway, sim_config_text
from tests.pg_server import PASSWORD, PgServer


@pytest.fixture
def team_url(pg_url: str, monkeypatch: pytest.MonkeyPatch) -> str:
    """A fresh database, named by CENTWISE_DATABASE_URL as a user would."""
    monkeypatch.setenv("CENTWISE_DATABASE_URL", pg_url)
    return pg_url


def _engine(data_dir: Path, extra: str = "") -> Engine:
    return Engine.open(parse_config(sim_config_text(extra), "t.toml"), data_dir)


def _spent(engine: Engine, by: str) -> dict[str | None, Decimal]:
    return {g.key: g.totals.cost_usd for g in engine.breakdown(by)}  # type: ignore[arg-type]


def _record(i: int, **kw: object) -> RequestRecord:
    now = time.time()
    fields: dict[str, object] = {
        "request_id": f"copy{i:06d}",
        "started_at": now - 1,
        "finished_at": now - 1 + i * 1e-3,
        "purpose": "user",
        "model": "gpt-4.1-nano",
        "cost_usd": Decimal("0.000001"),
        "member": "ann",
    }
    fields.update(kw)
    return RequestRecord(**fields)  # type: ignore[arg-type]


async def test_engine_records_member_in_the_shared_database(team_url: str, tmp_path: Path) -> None:
    one = _engine(tmp_path / "laptop-a", '[team]\nmember = "ann"\n')
    two = _engine(tmp_path / "laptop-b", '[team]\nmember = "bob"\n')
    try:
        assert one.storage.startswith("PostgreSQL 127.0.0.1:")
        assert not (tmp_path / "laptop-a" / "ledger.sqlite").exists()
        a = await one.ask("hello from ann").collect()
        b = await two.ask("hello from bob").collect()
        # Each sees the other's request: one ledger.
        assert one.get_record(b.request_id) == b
        assert two.get_record(a.request_id) == a
        split = {g.key: g.totals.requests for g in one.breakdown("member")}
        assert split == {"ann": 1, "bob": 1}
        assert one.spend_summary().totals.cost_usd == a.cost_usd + b.cost_usd  # type: ignore[operator]
    finally:
        await one.aclose()
        await two.aclose()


async def test_follow_changes_is_pushed_from_another_machine(team_url: str, tmp_path: Path) -> None:
    watcher = _engine(tmp_path / "a")
    writer = _engine(tmp_path / "b")
    told = threading.Event()
    stop = watcher.follow_changes(told.set)
    try:
        assert stop is not None
        time.sleep(0.3)  # let it LISTEN
        told.clear()
        rec = await writer.ask("news").collect()
        assert told.wait(5), "no notification arrived"
        assert [r.request_id for r in watcher.changes_since(0)] == [rec.request_id]
    finally:
        stop()  # type: ignore[misc]
        await watcher.aclose()
        await writer.aclose()


async def test_sqlite_is_polled_not_pushed(tmp_path: Path) -> None:
    engine = _engine(tmp_path / "solo")
    try:
        assert engine.follow_changes(lambda: None) is None
        assert engine.storage.endswith("ledger.sqlite")
    finally:
        await engine.aclose()


@pytest.fixture
def quick_keys(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(gateway_app, "KEY_CACHE_S", 0.0)


def test_virtual_gateway_keys_name_the_app_and_revoke(
    team_url: str, tmp_path: Path, quick_keys: None, capsys: pytest.CaptureFixture[str]
) -> None:
    data = tmp_path / "data"
    argv = ["--data-dir", str(data), "keys", "gateway", "create", "billing-bot"]
    assert cli_main([*argv, "--daily-usd", "2"]) == 0
    created = capsys.readouterr()
    key = created.out.strip()
    assert key.startswith("cwk-")
    assert "'billing-bot' created (daily $2.00)" in created.err
    assert cli_main(["--data-dir", str(data), "keys", "gateway", "list"]) == 0
    listed = capsys.readouterr().out
    assert "billing-bot" in listed and "active" in listed and "daily $2.00" in listed
    with PgLedger.connect(team_url) as led, led.reading() as conn:
        stored = conn.execute("SELECT key_hash, prefix FROM gateway_keys").fetchall()
    assert key not in str(stored) and stored[0][1] == key[:8]  # only a hash is kept
    with (
        running_gateway(data) as gw,
        openai.OpenAI(
            base_url=f"{gw.url}/v1",
            api_key=key,
            http_client=httpx.Client(trust_env=False),
            max_retries=0,
        ) as sdk,
    ):
        reply = sdk.chat.completions.create(
            model="auto", messages=[{"role": "user", "content": "hi"}]
        )
        rid = reply.id.removeprefix("chatcmpl-")
        own = httpx.post(
            f"{gw.url}/v1/chat/completions",
            headers={"Authorization": f"Bearer {TOKEN}"},
            json={"model": "auto", "messages": [{"role": "user", "content": "me"}]},
            timeout=10,
        )
        assert own.status_code == 200
        assert cli_main(["--data-dir", str(data), "keys", "gateway", "revoke", "billing-bot"]) == 0
        with pytest.raises(openai.AuthenticationError, match="revoked"):
            sdk.chat.completions.create(
                model="auto", messages=[{"role": "user", "content": "again"}]
            )
    engine = _engine(data)
    try:
        apps = {g.key: g.totals.requests for g in engine.breakdown("app")}
        assert apps == {"billing-bot": 1, None: 1}
        records = engine.history(0, 10)
        assert {r.app for r in records} == {"billing-bot", None}
        assert any(r.request_id.endswith(rid) or rid.endswith(r.request_id) for r in records)
    finally:
        engine.close()
    capsys.readouterr()
    assert cli_main(["--data-dir", str(data), "spend", "--by", "app"]) == 0
    out = capsys.readouterr().out
    assert "By app:" in out and "billing-bot" in out


def test_db_copy_moves_history_once_and_resumes(
    pg_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "data" / "ledger.sqlite"
    with Ledger.open(path) as src:
        src.record_many(_record(i, conversation_id=None) for i in range(2500))
        src.add_gateway_key("ci", "h" * 64, "cwk-abcd", daily_usd=Decimal(1))
    # An interrupted copy: the first 700 are in.
    with PgLedger.connect(pg_url) as dest, Ledger.open(path) as src:
        dest.record_many(list(src.iter_records())[:700])
    argv = ["--data-dir", str(tmp_path / "data"), "db", "copy", "--to", pg_url]
    assert cli_main([*argv, "--json"]) == 0
    first = capsys.readouterr().out
    assert '"requests": 1800' in first and '"requests_already_there": 700' in first
    assert cli_main([*argv, "--json"]) == 0
    again = capsys.readouterr().out
    assert '"requests": 0' in again and '"gateway_keys": 0' in again
    with PgLedger.connect(pg_url) as dest, Ledger.open(path) as src:
        assert dest.count() == 2500
        assert dest.totals() == src.totals()
        assert dest.breakdown("member") == src.breakdown("member")
        assert [k.name for k in dest.gateway_keys()] == ["ci"]
        assert list(dest.iter_records()) == list(src.iter_records())


def test_db_upgrade_reports_the_version(
    team_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["--data-dir", str(tmp_path), "db", "upgrade"]
    assert cli_main(argv) == 0
    assert "created at schema version 8" in capsys.readouterr().out
    assert cli_main(argv) == 0
    assert "already at schema version 8" in capsys.readouterr().out


def test_wrong_password_and_missing_database_say_which(pg_server: PgServer) -> None:
    wrong = pg_server.url().replace(PASSWORD, "not-the-password")
    with pytest.raises(LedgerError, match=r"refused the password for user 'centwise'") as e:
        PgLedger.connect(wrong)
    assert "not-the-password" not in str(e.value)
    missing = pg_server.url("no_such_db")
    with pytest.raises(LedgerError, match=r"database 'no_such_db' does not exist"):
        PgLedger.connect(missing)
    nobody = f"postgresql://centwise@127.0.0.1:{pg_server.port}/postgres"
    with pytest.raises(LedgerError, match="asks user 'centwise' for a password"):
        PgLedger.connect(nobody)


def test_password_comes_from_the_keyring_entry(
    pg_server: PgServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    from core.ledger import selection

    url = pg_server.url(password=False)
    seen: list[str] = []

    class Keys:
        def get(self, name: str, env: str | None, kind: str) -> object:
            seen.append(name)
            from core.types import Secret

            return Secret(PASSWORD)

    monkeypatch.setattr(selection, "KeyStore", Keys)
    config = parse_config(f'[storage]\nurl = "{url}"\n', "t.toml")
    with selection.open_ledger(config, Path("unused")) as led:
        assert led.count() >= 0
    assert seen == ["database"]


def test_config_refuses_a_password_in_the_url() -> None:
    from core.errors import ConfigError

    with pytest.raises(ConfigError, match="keyring"):
        parse_config('[storage]\nurl = "postgresql://u:secret@h/db"\n', "t.toml")
    with pytest.raises(ConfigError, match="postgresql://"):
        parse_config('[storage]\nurl = "mysql://u@h/db"\n', "t.toml")


def test_server_down_at_start_names_the_host() -> None:
    with pytest.raises(StorageUnavailableError, match=r"cannot reach PostgreSQL at 127\.0\.0\.1:1"):
        PgLedger.connect("postgresql://centwise@127.0.0.1:1/db")


@pytest.fixture
def own_server() -> Iterator[PgServer]:
    """A server of this test's own, to stop and start."""
    server = PgServer().init().start()
    try:
        yield server
    finally:
        server.destroy()


def test_down_mid_run_fails_fast_with_503_and_reconnects(
    own_server: PgServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = own_server.create_database()
    monkeypatch.setenv("CENTWISE_DATABASE_URL", url)
    body = {"model": "auto", "messages": [{"role": "user", "content": "hi"}]}
    headers = {"Authorization": f"Bearer {TOKEN}"}
    with running_gateway(tmp_path / "d", "[budget]\ndaily_usd = 5\n") as gw:
        ok = httpx.post(f"{gw.url}/v1/chat/completions", json=body, headers=headers, timeout=10)
        assert ok.status_code == 200
        own_server.stop()
        started = time.monotonic()
        down = httpx.post(f"{gw.url}/v1/chat/completions", json=body, headers=headers, timeout=30)
        assert down.status_code == 503, down.text
        assert f"127.0.0.1:{own_server.port}" in down.json()["error"]["message"]
        assert time.monotonic() - started < 8
        own_server.start()
        deadline = time.monotonic() + 20
        while True:
            back = httpx.post(
                f"{gw.url}/v1/chat/completions", json=body, headers=headers, timeout=30
            )
            if back.status_code == 200 or time.monotonic() > deadline:
                break
            time.sleep(0.5)
        assert back.status_code == 200, back.text
    with PgLedger.connect(url) as led:
        ids = {r.request_id for r in led.iter_records()}
    assert ok.headers["x-request-id"] in ids and back.headers["x-request-id"] in ids


async def test_member_and_gateway_key_budgets_hold_apart(team_url: str, tmp_path: Path) -> None:
    ann = _engine(tmp_path / "a", '[team]\nmember = "ann"\nmember_daily_usd = 0.00006\n')
    bob = _engine(tmp_path / "b", '[team]\nmember = "bob"\nmember_daily_usd = 1\n')
    try:
        answered = 0
        with pytest.raises(BudgetExceededError, match=r"daily \(member ann\) budget"):
            for i in range(20):
                await ann.ask(f"ann asks {i}").collect()
                answered += 1
        assert 1 <= answered < 20
        assert _spent(ann, "member")["ann"] <= Decimal("0.00006")
        await bob.ask("bob is not held by ann's limit").collect()
        _, key = bob.create_gateway_key("ci-bot", daily_usd=Decimal("0.00005"))
        assert key.daily_usd == Decimal("0.00005")
        with pytest.raises(BudgetExceededError, match=r"gateway key ci-bot"):
            for i in range(20):
                await bob.ask(f"ci asks {i}", app="ci-bot").collect()
        assert _spent(bob, "app")["ci-bot"] <= Decimal("0.00005")
        await bob.ask("bob directly is still fine").collect()
    finally:
        await ann.aclose()
        await bob.aclose()


async def test_two_machines_never_overshoot_one_team_budget(team_url: str, tmp_path: Path) -> None:
    extra = "[budget]\ndaily_usd = 0.0005\nhard_limit = true\n"
    one, two = _engine(tmp_path / "a", extra), _engine(tmp_path / "b", extra)

    async def ask(engine: Engine, i: int) -> bool:
        try:
            await engine.ask(f"burst {i}: explain indexes").collect()
        except BudgetExceededError:
            return False
        return True

    try:
        results = await asyncio.gather(*(ask(one if i % 2 else two, i) for i in range(60)))
        assert 0 < sum(results) < 60
        assert one.spend_summary().today.cost_usd <= Decimal("0.0005")
    finally:
        await one.aclose()
        await two.aclose()


def test_without_a_budget_a_known_outage_stops_requests_before_the_provider(
    own_server: PgServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CENTWISE_DATABASE_URL", own_server.create_database())
    calls: list[object] = []
    real_stream = SimulatorProvider.stream

    def counted(self: SimulatorProvider, *args: object, **kw: object) -> object:
        calls.append(args)
        return real_stream(self, *args, **kw)  # type: ignore[arg-type]

    monkeypatch.setattr(SimulatorProvider, "stream", counted)
    body = {"model": "auto", "messages": [{"role": "user", "content": "hi"}]}
    headers = {"Authorization": f"Bearer {TOKEN}"}
    with running_gateway(tmp_path / "d") as gw:
        url = f"{gw.url}/v1/chat/completions"
        assert httpx.post(url, json=body, headers=headers, timeout=10).status_code == 200
        own_server.stop()
        first = httpx.post(url, json=body, headers=headers, timeout=30)
        assert first.status_code == 503  # answered by the Simulator, but not recordable
        before = len(calls)
        started = time.monotonic()
        second = httpx.post(url, json=body, headers=headers, timeout=30)
        assert second.status_code == 503 and time.monotonic() - started < 2
        assert f"127.0.0.1:{own_server.port}" in second.json()["error"]["message"]
        assert len(calls) == before  # the known outage stopped it before the provider
