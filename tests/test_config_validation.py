"""canaryflow.toml: relative paths mean "next to the file", and bad values are one clear line."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from typer.testing import CliRunner

from canaryflow.cli import app
from canaryflow.config import load_config
from canaryflow.errors import ConfigErrors

MODELS = '[models.bot]\nprovider = "simulator"\nmodel = "sim-1"\n'

PATHS = (
    MODELS
    + """
[store]
url = "sqlite:///.canaryflow/x.db"

[canary]
probes_dir = "probes"

[golden]
dir = "./golden_sets"

[reports]
dir = "out/reports"

[sinks.file]
dir = "out/incidents"

[production]
source = "data/prod-*.jsonl"

[checks]
local_dir = "checks"
"""
)


def write(directory: Path, text: str) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / "canaryflow.toml"
    path.write_text(text, encoding="utf-8")
    return path


def resolved(cfg_path: Path, cwd: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    monkeypatch.chdir(cwd)
    cfg = load_config(os.path.relpath(cfg_path, cwd))
    return {
        "store": cfg.store.url,
        "probes": cfg.canary.probes_dir,
        "golden": cfg.golden.dir,
        "reports": cfg.reports.dir,
        "sink": cfg.sinks.file.dir,
        "source": str(cfg.production.source),
        "checks": str(cfg.checks.local_dir),
        "hash": cfg.config_hash(),
    }


def test_relative_paths_resolve_against_the_config_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Regression: run from another directory, canaryflow silently made a new empty store."""
    project = tmp_path / "project"
    cfg_path = write(project, PATHS)
    (tmp_path / "elsewhere" / "deeper").mkdir(parents=True)
    here = resolved(cfg_path, project, monkeypatch)
    there = resolved(cfg_path, tmp_path / "elsewhere" / "deeper", monkeypatch)
    assert here == there
    base = project.resolve()
    assert here["store"] == f"sqlite:///{base}/.canaryflow/x.db"
    assert here["probes"] == str(base / "probes")
    assert here["golden"] == str(base / "golden_sets")
    assert here["reports"] == str(base / "out" / "reports")
    assert here["sink"] == str(base / "out" / "incidents")
    assert here["source"] == str(base / "data" / "prod-*.jsonl")
    assert here["checks"] == str(base / "checks")


def test_defaults_and_absolute_paths(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    cfg = load_config(write(tmp_path / "p", MODELS))
    base = (tmp_path / "p").resolve()
    assert cfg.store.url == f"sqlite:///{base}/.canaryflow/canaryflow.db"
    assert cfg.canary.probes_dir == str(base / "probes")
    assert cfg.checks.local_dir is None and cfg.production.source is None
    text = MODELS + (
        f'[store]\nurl = "sqlite:///{tmp_path}/abs.db"\n'
        '[production]\nsource = "postgresql+psycopg://u:secret@db/prod"\n'
    )
    cfg = load_config(write(tmp_path / "q", text))
    assert cfg.store.url == f"sqlite:///{tmp_path}/abs.db"
    assert cfg.production.source == "postgresql+psycopg://u:secret@db/prod"
    cfg = load_config(write(tmp_path / "m", MODELS + '[store]\nurl = "sqlite://"\n'))
    assert cfg.store.url == "sqlite://"


def test_hash_does_not_change_when_the_project_moves(tmp_path: Path) -> None:
    a = load_config(write(tmp_path / "a", PATHS)).config_hash()
    b = load_config(write(tmp_path / "b", PATHS)).config_hash()
    c = load_config(write(tmp_path / "c", PATHS.replace('"probes"', '"other"'))).config_hash()
    assert a == b != c


def errors_of(tmp_path: Path, text: str) -> list[str]:
    with pytest.raises(ConfigErrors) as info:
        load_config(write(tmp_path, text))
    return [e.line().replace(str(tmp_path) + "/", "") for e in info.value.errors]


@pytest.mark.parametrize(
    ("extra", "expected"),
    [
        (
            '[schedules]\ncanary = "61 * * * *"\n',
            "canaryflow.toml: schedules.canary: invalid cron expression '61 * * * *'",
        ),
        (
            '[schedules]\ngolden = "0 6 * * mon-fri-x"\n',
            "canaryflow.toml: schedules.golden: invalid cron expression",
        ),
        (
            '[schedules]\ntimezone = "Mars/Olympus"\n',
            "canaryflow.toml: schedules.timezone: unknown time zone 'Mars/Olympus'",
        ),
        ("[alerts]\narl0 = inf\n", "canaryflow.toml: alerts.arl0: Input should be a finite"),
        ("[alerts]\nfdr_q = nan\n", "canaryflow.toml: alerts.fdr_q: Input should be a finite"),
        (
            "[production]\nbudgets_usd = { bot = inf }\n",
            "canaryflow.toml: production.budgets_usd.bot: Input should be a finite",
        ),
        (
            "[models.bot.pricing]\ninput = -inf\noutput = 1.0\n",
            "canaryflow.toml: models.bot.pricing.input: Input should be a finite",
        ),
    ],
)
def test_bad_values_are_one_line_naming_file_and_key(
    tmp_path: Path, extra: str, expected: str
) -> None:
    got = errors_of(tmp_path, MODELS + extra)
    assert len(got) == 1 and got[0].startswith(expected), got


def test_good_cron_and_timezone_accepted(tmp_path: Path) -> None:
    text = MODELS + (
        '[schedules]\ncanary = "*/20 * * * 1-5"\ngolden = "30 6 * * mon"\n'
        'timezone = "Europe/Paris"\n'
    )
    assert load_config(write(tmp_path, text)).schedules.timezone == "Europe/Paris"


def test_empty_file_and_no_models(tmp_path: Path) -> None:
    assert errors_of(tmp_path / "empty", "") == [
        "canaryflow.toml: empty file: at least one [models.<name>] table is needed"
    ]
    assert errors_of(tmp_path / "comments", "# nothing yet\n") == [
        "canaryflow.toml: empty file: at least one [models.<name>] table is needed"
    ]
    assert errors_of(tmp_path / "nomodels", '[alerts]\narl0 = 400\n[store]\nurl = "sqlite://"') == [
        "canaryflow.toml: models: no models configured: add a [models.<name>] table"
    ]
    both = errors_of(tmp_path / "both", "[alerts]\narl0 = inf\n")
    assert both == [
        "canaryflow.toml: models: no models configured: add a [models.<name>] table",
        "canaryflow.toml: alerts.arl0: Input should be a finite number, got inf",
    ]


def test_config_check_exits_2_with_the_line(tmp_path: Path) -> None:
    path = write(tmp_path, MODELS + '[schedules]\ncanary = "0 25 * * *"\n')
    result = CliRunner().invoke(app, ["config", "check", "-c", str(path)])
    assert result.exit_code == 2
    assert "schedules.canary: invalid cron expression '0 25 * * *'" in result.output


def test_demo_paths_stay_next_to_the_users_config(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The demo writes its own toml into .canaryflow/demo; reloading it must not move paths."""
    from canaryflow.demo import DEMO_DIR, demo_config, to_toml

    monkeypatch.chdir(tmp_path)
    project = tmp_path / "project"
    base = load_config(write(project, PATHS))
    cfg = demo_config(base, port=1234)
    demo_toml = project / DEMO_DIR / "canaryflow.toml"
    demo_toml.parent.mkdir(parents=True)
    demo_toml.write_text(to_toml(cfg), encoding="utf-8")
    again = load_config(demo_toml)
    root = project.resolve()
    assert again.store.url == cfg.store.url == f"sqlite:///{root / DEMO_DIR}/demo.db"
    assert again.reports.dir == str(root / "reports" / "demo")
    assert again.sinks.file.dir == str(root / "reports" / "demo" / "incidents")
    assert again.canary.probes_dir == str(root / "probes")
