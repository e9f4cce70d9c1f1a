"""Settings come from the environment; a bad value stops start-up naming the variable and writes
nothing."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from hosting import config

ROOT = Path(__file__).resolve().parents[2]


def run_manage(tmp_path: Path, *args: str, **env: str) -> subprocess.CompletedProcess:
    base = {k: v for k, v in os.environ.items() if not k.startswith(("HARBORMASTER_", "DATABASE_URL"))}
    base.update({"HARBORMASTER_DATA_DIR": str(tmp_path / "data")}, **env)
    return subprocess.run([sys.executable, str(ROOT / "manage.py"), *args], cwd=ROOT, env=base,
                          capture_output=True, text=True, timeout=60)


@pytest.mark.parametrize(
    ("variable", "value", "expected"),
    [
        ("HARBORMASTER_HEARTBEAT", "soon", "HARBORMASTER_HEARTBEAT: expected a number"),
        ("HARBORMASTER_HEARTBEAT", "0", "HARBORMASTER_HEARTBEAT: must be at least 0.2"),
        ("HARBORMASTER_DEBUG", "maybe", "HARBORMASTER_DEBUG: expected 1/0"),
        ("HARBORMASTER_ROOTS", "relative/dir", "HARBORMASTER_ROOTS: every root must be an absolute path"),
        ("HARBORMASTER_ROOTS", "/", "HARBORMASTER_ROOTS: '/' is not allowed"),
        ("DATABASE_URL", "mysql://root@localhost/x", "DATABASE_URL: unsupported database URL mysql://"),
        ("DATABASE_URL", "postgresql://127.0.0.1:5432/", "DATABASE_URL: a PostgreSQL URL needs a database name"),
        ("HARBORMASTER_DEADLINES", "site.backup=soon",
         "HARBORMASTER_DEADLINES: deadline of 'site.backup' must be whole seconds"),
        ("HARBORMASTER_DEADLINES", "site.dance=10", "HARBORMASTER_DEADLINES: unknown task type 'site.dance'"),
        ("HARBORMASTER_ROLLBACK_DEADLINE", "later", "HARBORMASTER_ROLLBACK_DEADLINE: expected a number"),
        ("HARBORMASTER_ROLLBACK_DEADLINE", "0", "HARBORMASTER_ROLLBACK_DEADLINE: must be at least 1"),
        ("HARBORMASTER_SECRET_KEY", "short", "HARBORMASTER_SECRET_KEY: must be at least 32 characters"),
    ],
)
def test_it_stops_on_a_bad_value_naming_the_variable(tmp_path, variable, value, expected):
    result = run_manage(tmp_path, "check", **{variable: value})
    assert result.returncode == 2
    assert expected in result.stderr
    assert "Traceback" not in result.stderr
    # Nothing was written: not even the data directory.
    assert not (tmp_path / "data").exists()


def test_it_starts_with_the_defaults(tmp_path):
    result = run_manage(tmp_path, "check")
    assert result.returncode == 0, result.stderr
    assert "no issues" in result.stdout


def test_it_parses_deadline_overrides():
    deadlines = config.get_deadlines("X", {"site.backup": 10, "site.verify": 5}, env={"X": "site.backup=60"})
    assert deadlines == {"site.backup": 60, "site.verify": 5}


def test_it_parses_database_urls():
    url = config.parse_database_url("DATABASE_URL", "postgresql://hm:s%40cret@db.example:6543/panel?sslmode=require")
    assert (url.engine, url.name, url.user, url.password, url.host, url.port) == (
        "postgresql", "panel", "hm", "s@cret", "db.example", "6543")
    assert url.options == {"sslmode": "require"}
    assert config.parse_database_url("DATABASE_URL", "sqlite:////srv/hm.sqlite3").name == "/srv/hm.sqlite3"


def test_it_configures_sqlite_for_many_processes(settings):
    db = settings.DATABASES["default"]
    if db["ENGINE"] != "django.db.backends.sqlite3":
        pytest.skip("the control database is not SQLite in this run")
    assert db["OPTIONS"]["transaction_mode"] == "IMMEDIATE"
    assert "journal_mode=WAL" in db["OPTIONS"]["init_command"]


def test_it_keeps_django_q_from_rerunning_tasks(settings):
    q = settings.Q_CLUSTER
    assert q["max_attempts"] == 1 and q["ack_failures"] is True
    assert q["retry"] > max(settings.HARBORMASTER_DEADLINES.values())
