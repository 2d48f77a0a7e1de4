"""Configuration: the documented shape works as written; every problem is one clear line."""

from __future__ import annotations

from pathlib import Path

import pytest

from canaryflow.config import load_config, resolve_api_key
from canaryflow.errors import ConfigErrors, MissingAPIKeyError

ISSUE_SHAPE = """
[store]
url = "sqlite:///.canaryflow/canaryflow.db"

[models.support-bot]
provider = "anthropic"
model = "claude-3-5-haiku-20241022"
base_url = "http://127.0.0.1:8765"
api_key_env = "ANTHROPIC_API_KEY"
pricing = { input = 0.80, output = 4.00 }

[judge]
model = "support-bot"

[schedules]
canary = "0 * * * *"
golden = "0 6 * * *"
production = "*/15 * * * *"
"""


def write(tmp_path: Path, text: str, name: str = "canaryflow.toml") -> Path:
    p = tmp_path / name
    p.write_text(text, encoding="utf-8")
    return p


def lines(exc: ConfigErrors) -> list[str]:
    return [e.line().split("/")[-1] for e in exc.errors]


def test_documented_shape_loads(tmp_path: Path) -> None:
    cfg = load_config(write(tmp_path, ISSUE_SHAPE))
    m = cfg.models["support-bot"]
    assert (m.provider, m.model, m.pricing.input, m.pricing.output) == (
        "anthropic",
        "claude-3-5-haiku-20241022",
        0.80,
        4.00,
    )
    assert cfg.judge.model == "support-bot"
    assert cfg.schedules.production == "*/15 * * * *"
    assert len(cfg.config_hash()) == 12


def test_shipped_config_is_valid_and_offline() -> None:
    cfg = load_config(Path(__file__).parents[1] / "canaryflow.toml")
    assert cfg.models and all(m.provider == "simulator" for m in cfg.models.values())


def test_all_problems_reported_one_line_each(tmp_path: Path) -> None:
    bad = (
        ISSUE_SHAPE.replace("input = 0.80", 'input = "cheap"')
        .replace('provider = "anthropic"', 'provider = "anthropik"\ncolour = "red"')
        .replace('canary = "0 * * * *"', 'canary = "hourly"')
    )
    with pytest.raises(ConfigErrors) as info:
        load_config(write(tmp_path, bad))
    got = lines(info.value)
    assert (
        'canaryflow.toml: models.support-bot.pricing.input: expected a number, got "cheap"' in got
    )
    assert any(
        g.startswith("canaryflow.toml: models.support-bot.provider: expected one of") for g in got
    )
    assert any(g.startswith("canaryflow.toml: models.support-bot.colour: unknown key") for g in got)
    assert any(
        g.startswith("canaryflow.toml: schedules.canary: expected a 5-field cron") for g in got
    )
    assert len(got) == 4


def test_toml_syntax_error_names_line(tmp_path: Path) -> None:
    with pytest.raises(ConfigErrors) as info:
        load_config(write(tmp_path, "[store]\nurl = \n"))
    assert "line 2" in str(info.value)


def test_unknown_references(tmp_path: Path) -> None:
    text = ISSUE_SHAPE.replace('model = "support-bot"', 'model = "nope"')
    with pytest.raises(ConfigErrors) as info:
        load_config(write(tmp_path, text))
    assert lines(info.value) == ["canaryflow.toml: judge.model: 'nope' is not a key of [models]"]


def test_key_value_instead_of_name_rejected(tmp_path: Path) -> None:
    text = ISSUE_SHAPE.replace(
        'api_key_env = "ANTHROPIC_API_KEY"', 'api_key_env = "sk-ant-abc-123"'
    )
    with pytest.raises(ConfigErrors) as info:
        load_config(write(tmp_path, text))
    assert "models.support-bot.api_key_env" in str(info.value)


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigErrors) as info:
        load_config(tmp_path / "nope.toml")
    assert "file not found" in str(info.value)


def test_missing_key_names_variable(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cfg = load_config(write(tmp_path, ISSUE_SHAPE))
    monkeypatch.delenv("ANTHROPIC_API_KEY", raising=False)
    with pytest.raises(MissingAPIKeyError) as info:
        resolve_api_key("support-bot", cfg.models["support-bot"])
    assert "ANTHROPIC_API_KEY" in str(info.value)
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-secret-value")
    assert resolve_api_key("support-bot", cfg.models["support-bot"]) == "sk-ant-secret-value"
    assert "sk-ant-secret-value" not in str(cfg.masked())


def test_config_env_var(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    p = write(tmp_path, ISSUE_SHAPE, "other.toml")
    monkeypatch.setenv("CANARYFLOW_CONFIG", str(p))
    assert load_config().source_path == str(p)
