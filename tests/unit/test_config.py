"""Configuration: defaults, exact money, and errors that name the file and key."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest

from core.config import CentwiseConfig, load_config, parse_config
from core.errors import ConfigError
from core.resources import resource_path


def test_defaults_have_three_simulator_tiers():
    cfg = load_config(None)
    assert [t.id for t in cfg.routing.tiers] == ["fast", "balanced", "premium"]
    assert {t.provider for t in cfg.routing.tiers} == {"simulator"}
    assert cfg.schema_version == 1


def test_shipped_default_file_equals_builtin_defaults():
    assert load_config(resource_path("default_config.toml")) == CentwiseConfig()


def test_money_is_exact_decimal():
    cfg = parse_config("[budget]\ndaily_usd = 0.1\nmonthly_usd = 3\n")
    assert cfg.budget.daily_usd == Decimal("0.1") and isinstance(cfg.budget.daily_usd, Decimal)
    assert cfg.budget.monthly_usd == Decimal(3)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("[budget]\nmax_input_tokens = -1\n", "budget.max_input_tokens"),
        ("[cache]\nsimilarity_threshold = 2\n", "cache.similarity_threshold"),
        ("[cache]\nenabeld = true\n", "cache.enabeld: unknown key"),
        ("surprise = 1\n", "surprise: unknown key"),
        ('[providers.x]\nkind = "carrier-pigeon"\n', "providers.x.kind"),
        ('[providers.x]\nkind = "openai"\nbase_url = "ftp://a"\n', "providers.x.base_url"),
        (
            '[[routing.tiers]]\nid = "a"\nprovider = "nope"\nmodel = "m"\nmax_complexity = 10\n',
            "provider 'nope' is not defined",
        ),
        (
            '[[routing.tiers]]\nid = "a"\nprovider = "simulator"\nmodel = "m"\nmax_complexity = 5\n',
            "max_complexity must be 10",
        ),
        ('[network]\ntransport = "curl"\n', "network.transport"),
        ('[network]\nproxy = "http://p:3128"\n', "network.proxy: unknown key"),
        ("[network]\nmax_connections = 0\n", "network.max_connections"),
        (
            '[network]\nca_bundle = "/nonexistent/corp-ca.pem"\n',
            "network.ca_bundle: the CA bundle /nonexistent/corp-ca.pem does not exist",
        ),
        ("schema_version = 99\n", "newer than this Centwise"),
        ("[budget\n", "not valid TOML"),
    ],
)
def test_errors_name_the_file_and_key(text: str, expected: str):
    with pytest.raises(ConfigError) as info:
        parse_config(text, "my.toml")
    assert "my.toml" in str(info.value) and expected in str(info.value)


def test_unreadable_files(tmp_path: Path):
    with pytest.raises(ConfigError, match="not found"):
        load_config(tmp_path / "missing.toml")
    bad = tmp_path / "latin1.toml"
    bad.write_bytes(b"# caf\xe9\n")
    with pytest.raises(ConfigError, match="not UTF-8"):
        load_config(bad)


def test_user_providers_keep_the_simulator():
    cfg = parse_config('[providers.openai]\nkind = "openai"\n')
    assert set(cfg.providers) == {"simulator", "openai"}


def test_tiers_are_ordered_by_complexity():
    cfg = parse_config(
        '[[routing.tiers]]\nid = "big"\nprovider = "simulator"\nmodel = "gpt-4.1"\nmax_complexity = 10\n'
        '[[routing.tiers]]\nid = "small"\nprovider = "simulator"\nmodel = "gpt-4.1-nano"\n'
        "max_complexity = 4\n"
    )
    assert [t.id for t in cfg.routing.tiers] == ["small", "big"]


def test_the_user_config_file_is_read_when_present(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    from core.config import config_from_env, default_config_path

    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg"))
    assert config_from_env(None) is None  # nothing there: built-in defaults
    path = default_config_path()
    path.parent.mkdir(parents=True)
    path.write_text("[budget]\ndaily_usd = 2\n")
    assert config_from_env(None) == path
    assert load_config(config_from_env(None)).budget.daily_usd == Decimal(2)
    monkeypatch.setenv("CENTWISE_CONFIG", str(tmp_path / "other.toml"))
    assert config_from_env(None) == tmp_path / "other.toml"
    assert config_from_env("explicit.toml") == Path("explicit.toml")
