"""Settings: inline validation, atomic TOML save and engine re-open, connection test,
price import and overrides, and API keys saved to a real keyring, never to disk."""

from __future__ import annotations

import json
import uuid
from decimal import Decimal
from pathlib import Path

import httpx
import pytest

pytest.importorskip("PySide6")

from PySide6.QtWidgets import QLineEdit

from app.runtime.config_file import config_to_toml
from app.settings.view import SettingsView
from core.config import load_config, parse_config
from core.engine import Engine
from core.keys import KEYRING_SERVICE, KeyStore
from core.types import Secret
from tests.gui.conftest import no_keyring
from tests.keyring_service import SecretService, fresh_backend

OPENAI = """
[providers.openai]
kind = "openai"
base_url = "http://models.test/v1"
"""


@pytest.fixture
def config_path(tmp_path: Path) -> Path:
    return tmp_path / "config" / "config.toml"


def make_view(qtbot, bridge, config_path: Path, keys: KeyStore | None = None) -> SettingsView:
    engine = bridge.engine

    def opener(config):
        return Engine.open(config, engine.data_dir, events=engine.events)

    view = SettingsView(bridge, keys or no_keyring(), config_path, opener)
    qtbot.addWidget(view)
    view.resize(1100, 700)
    view.show()
    return view


def field(view: SettingsView, form, name: str) -> QLineEdit:
    widget = form.widget(name)
    assert isinstance(widget, QLineEdit)
    return widget


def test_config_toml_round_trips_exact_money():
    config = parse_config(
        OPENAI + '[budget]\ndaily_usd = 5.10\n[prices."m"]\ninput_cost_per_token = 0.0000003\n'
    )
    text = config_to_toml(config.model_dump(exclude_none=True))
    again = parse_config(text)
    assert again == config
    assert again.budget.daily_usd == Decimal("5.10") and "daily_usd = 5.10" in text
    assert "input_cost_per_token = 0.0000003" in text


def test_invalid_input_is_shown_inline_and_blocks_save(qtbot, make_bridge, config_path):
    view = make_view(qtbot, make_bridge(), config_path)
    assert not view.save_button.isEnabled()  # nothing changed yet
    field(view, view.budget_form, "daily_usd").setText("lots")
    assert "budget.daily_usd" in view.problem_label.text()
    assert "valid decimal" in view.problem_label.text()
    assert not view.save_button.isEnabled()
    assert view.save() is False and not config_path.exists()

    field(view, view.budget_form, "daily_usd").setText("5.10")
    assert view.problem_label.text().startswith("✓")
    assert view.save_button.isEnabled()

    view.tiers.set_cell(2, 3, "9")  # the top tier must reach complexity 10
    assert "max_complexity must be 10" in view.problem_label.text()
    assert not view.save_button.isEnabled()
    view.tiers.set_cell(2, 3, "10")
    view.tiers.set_cell(0, 1, "nowhere")
    assert "provider 'nowhere' is not defined" in view.problem_label.text()


def test_save_writes_toml_atomically_and_reopens_the_engine(qtbot, make_bridge, config_path):
    bridge = make_bridge()
    old_engine = bridge.engine
    view = make_view(qtbot, bridge, config_path)
    field(view, view.budget_form, "daily_usd").setText("5.10")
    field(view, view.budget_form, "monthly_usd").setText("50")
    field(view, view.budget_form, "alert_thresholds").setText("0.5, 0.9")
    view.cache_form.widget("similarity_threshold").setValue(0.9)
    view.cache_form.widget("max_error_rate").setValue(0.02)
    view.cache_form.widget("verify_tier").setText("fast")
    view.tiers.set_cell(1, 2, "gpt-4.1")
    row = view.overrides.add_row(["my-finetune", "2.50", "10"])
    assert row == 0
    view.validate()
    with qtbot.waitSignal(view.engine_reopened, timeout=10000) as reopened:
        assert view.save()

    saved = load_config(config_path)
    assert saved.budget.daily_usd == Decimal("5.10")
    assert saved.budget.monthly_usd == Decimal("50")
    assert saved.budget.alert_thresholds == (0.5, 0.9)
    assert saved.cache.similarity_threshold == 0.9
    assert (saved.cache.max_error_rate, saved.cache.verify_tier) == (0.02, "fast")
    assert saved.routing.tiers[1].model == "gpt-4.1"
    assert saved.prices["my-finetune"]["input_cost_per_token"] == Decimal("0.0000025")
    assert [p.name for p in config_path.parent.iterdir()] == ["config.toml"]  # no temp left

    engine = reopened.args[0]
    assert bridge.engine is engine and engine is not old_engine
    assert engine.config == saved
    price = engine.prices.lookup("my-finetune")
    assert price is not None and price.input_cost_per_token == Decimal("0.0000025")
    assert price.output_cost_per_token == Decimal("0.00001")
    assert "applied" in view.status_label.text()
    assert not view.save_button.isEnabled()
    assert view.overrides.cells(0) == ["my-finetune", "2.5", "10"]

    # The re-opened engine answers; the ledger is the same file.
    future = bridge.run(bridge.engine.ask("hello there").collect())
    assert future.result(10).status == "ok"


def test_bad_price_override_blocks_save(qtbot, make_bridge, config_path):
    view = make_view(qtbot, make_bridge(), config_path)
    view.overrides.add_row(["x-model", "cheap", "1"])
    view.validate()
    assert 'prices."x-model": input price' in view.problem_label.text()
    assert not view.save_button.isEnabled()


def test_connection_test_lists_models_or_says_why(qtbot, make_bridge, config_path):
    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.host == "127.0.0.1":
            raise httpx.ConnectError("connection refused", request=request)
        assert request.url.path == "/v1/models"
        assert request.headers["authorization"] == "Bearer sk-test-key"
        return httpx.Response(200, json={"data": [{"id": "gpt-4.1"}, {"id": "gpt-4.1-mini"}]})

    extra = (
        OPENAI + '[providers.local]\nkind = "openai-compatible"\nbase_url = "http://127.0.0.1:9"\n'
    )
    extra += "max_attempts = 1\n"
    bridge = make_bridge(
        extra,
        key_lookup=lambda name: Secret("sk-test-key") if name == "openai" else None,
        client_factory=lambda: httpx.AsyncClient(transport=httpx.MockTransport(handler)),
    )
    view = make_view(qtbot, bridge, config_path)
    panel = view.providers
    panel.select("openai")
    panel.test_button.click()
    qtbot.waitUntil(lambda: panel.test_result.text().startswith("✓"), timeout=10000)
    assert panel.test_result.text() == "✓ Connected: 2 models"
    assert [panel.models.item(i).text() for i in range(panel.models.count())] == [
        "gpt-4.1",
        "gpt-4.1-mini",
    ]

    panel.select("local")
    panel.test_button.click()
    qtbot.waitUntil(lambda: panel.test_result.text().startswith("✗"), timeout=15000)
    assert "local" in panel.test_result.text()
    assert panel.models.count() == 0


def test_import_prices_shows_the_diff(qtbot, make_bridge, config_path, tmp_path):
    bridge = make_bridge()
    table = json.loads(Path("resources/model_prices.json").read_text())
    table.pop("_centwise_source", None)
    table["gpt-4.1"] = {**table["gpt-4.1"], "input_cost_per_token": 0.000003}
    table["brand-new-model"] = {
        "input_cost_per_token": 0.000001,
        "output_cost_per_token": 0.000002,
        "litellm_provider": "openai",
        "mode": "chat",
    }
    path = tmp_path / "prices.json"
    path.write_text(json.dumps(table))
    view = make_view(qtbot, bridge, config_path)
    view.import_prices(path)
    qtbot.waitUntil(lambda: view.last_diff is not None, timeout=10000)
    text = view.diff_text.toPlainText()
    assert "+ brand-new-model" in text
    assert "~ gpt-4.1: input_cost_per_token" in text
    assert "prices.json" in view.price_source_label.text()
    assert bridge.engine.prices.lookup("brand-new-model") is not None


@pytest.mark.keyring
def test_a_key_goes_to_the_real_keyring_and_never_to_disk(
    qtbot, make_bridge, config_path, tmp_path, service: SecretService
):
    key = "sk-proj-" + uuid.uuid4().hex + "LAST"
    name = f"openai{uuid.uuid4().hex[:6]}"
    bridge = make_bridge(f'[providers.{name}]\nkind = "openai"\n')
    keys = KeyStore(fresh_backend(), environ={})
    view = make_view(qtbot, bridge, config_path, keys)
    panel = view.providers
    assert "SecretService" in panel.backend_label.text()
    panel.select(name)
    assert panel.key_field.echoMode() == QLineEdit.EchoMode.Password
    try:
        panel.key_field.setText(key)
        panel.save_key_button.click()
        assert panel.key_field.text() == ""  # cleared at once
        qtbot.waitUntil(lambda: "OS keyring" in panel.key_status.text(), timeout=10000)
        assert panel.key_status.text() == "sk-…LAST (from OS keyring)"
        assert key not in panel.key_message.text()
        assert fresh_backend().get_password(KEYRING_SERVICE, name) == key

        field(view, view.budget_form, "daily_usd").setText("1")
        with qtbot.waitSignal(view.engine_reopened, timeout=10000):
            assert view.save()
        needles = [key.encode(), key.encode("utf-16-le"), key[-8:].encode()]
        files = [p for p in tmp_path.rglob("*") if p.is_file()]
        assert config_path in files and any(p.name == "ledger.sqlite" for p in files)
        assert [p for p in files if any(n in p.read_bytes() for n in needles)] == []

        panel.remove_key_button.click()
        qtbot.waitUntil(lambda: panel.key_status.text() == "none", timeout=10000)
        assert fresh_backend().get_password(KEYRING_SERVICE, name) is None
    finally:
        keys.delete(name)
    qtbot.waitUntil(lambda: bridge.running_replies == 0)


def test_without_a_keyring_the_view_says_so(qtbot, make_bridge, config_path):
    view = make_view(qtbot, make_bridge(OPENAI), config_path)
    assert view.providers.backend_label.text().startswith("⚠ No OS keyring")
    view.providers.select("openai")
    view.providers.key_field.setText("sk-session-only-1234")
    view.providers.save_key_button.click()
    qtbot.waitUntil(lambda: "NOT saved" in view.providers.key_message.text(), timeout=5000)
    qtbot.waitUntil(lambda: "this session only" in view.providers.key_status.text())


def test_an_unknown_verify_tier_is_named(qtbot, make_bridge, config_path):
    view = make_view(qtbot, make_bridge(), config_path)
    view.cache_form.widget("verify_tier").setText("nope")
    view.validate()
    assert "cache.verify_tier" in view.problem_label.text()
    view.cache_form.widget("verify_tier").setText("")
    view.validate()
    assert "verify_tier" not in view.problem_label.text()
