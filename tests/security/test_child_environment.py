"""drush runs the client's PHP (settings.php, modules) as the worker's user: whatever the worker's
environment holds, the client's code could print or send away. Before the fix every program a
task ran inherited the worker's whole environment: the control database's URL with its password,
the secret key, the mail and Redis URLs. Now a program gets only what it needs: PATH, the locale,
TZ, TMPDIR, a HOME of Harbormaster's own, the task's mark, and what the call itself passes."""
from __future__ import annotations

import os
import secrets
import sys
from pathlib import Path

import pytest

from hosting.models import Site
from hosting.operations import resources
from provision.runner import Runner
from tests.operations.conftest import (
    _ops,  # noqa: F401 - autouse: data dirs, transactional db
    log_of,
)

PLANTED = {name: f"planted-{name.lower()}-{secrets.token_hex(6)}" for name in (
    "DATABASE_URL", "SECRET_KEY", "HARBORMASTER_SECRET_KEY", "EMAIL_URL", "HARBORMASTER_REDIS_URL",
    "HARBORMASTER_SMTP_TOKEN", "AWS_SECRET_ACCESS_KEY", "SOME_OTHER_SETTING")}

# A drush that shows its environment (on stderr, which goes to the task log, and in a file) and
# then behaves as the platform's drush did.
WRAPPER = """#!/bin/sh
echo ---- >> {dump}
env >> {dump}
env >&2
exec {real} "$@"
"""


@pytest.fixture
def worker_secrets(monkeypatch):
    for name, value in PLANTED.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("LC_TIME", "C.UTF-8")
    monkeypatch.setenv("HOME", os.environ.get("HOME", "/root"))
    return PLANTED


def show_environment(site: Site, tmp_path: Path) -> Path:
    root = resources.platform_root(site.platform)
    drush = root / "vendor" / "bin" / "drush"
    real = drush.with_name("drush.real")
    drush.rename(real)
    dump = tmp_path / "drush-env.txt"
    drush.write_text(WRAPPER.format(dump=dump, real=real))
    drush.chmod(0o755)
    return dump


def environments(dump: Path) -> list[dict[str, str]]:
    """The environment of each drush run, as `env` printed it."""
    found: list[dict[str, str]] = []
    for line in dump.read_text().splitlines():
        if line == "----":
            found.append({})
        elif found and "=" in line:
            name, _, value = line.partition("=")
            found[-1][name] = value
    return found


def test_drush_never_sees_the_workers_secrets(worker_secrets, installed, run, tmp_path):
    site = installed()
    dump = show_environment(site, tmp_path)

    verify = run(site, "verify")
    login = run(site, "login-reset")

    assert verify.state == "succeeded", (verify.summary, log_of(verify))
    assert login.state == "succeeded", (login.summary, log_of(login))
    text = dump.read_text()
    for name, value in worker_secrets.items():
        assert value not in text, f"drush saw {name}"
        assert value not in log_of(verify) and value not in log_of(login), f"the task log holds {name}"
    runs = [env for env in environments(dump) if "HARBORMASTER_TASK" in env]
    assert len(runs) == 2, text
    for env in runs:
        assert set(env) - {"PWD", "SHLVL", "_", "OLDPWD"} <= {
            "PATH", "HOME", "LANG", "LANGUAGE", "TZ", "TMPDIR", "LC_TIME", "HARBORMASTER_TASK"}, env
        assert env["PATH"] == os.environ["PATH"]
        assert env["LC_TIME"] == "C.UTF-8"
        # Not the worker's home (its ~/.my.cnf, ~/.pgpass, ~/.ssh): an empty one of Harbormaster's.
        assert env["HOME"] != os.environ["HOME"]
        home = Path(env["HOME"])
        assert home.is_dir() and not home.is_symlink() and home.stat().st_mode & 0o077 == 0


def test_every_program_gets_the_allowlist_and_what_its_call_passes(worker_secrets, tmp_path):
    lines: list[str] = []
    runner = Runner(lambda level, line: lines.append(line), env={"HARBORMASTER_TASK": "x:1:2"},
                    home=str(tmp_path / "home"))
    show = "import json, os; print(json.dumps(dict(os.environ)))"
    runner.run([sys.executable, "-c", show], env={"MYSQL_PWD": "site-only"})
    env = __import__("json").loads(lines[-1].replace("[secret]", "site-only"))
    assert not set(PLANTED) & set(env)
    assert env["HARBORMASTER_TASK"] == "x:1:2" and env["MYSQL_PWD"] == "site-only"
    assert env["HOME"] == str(tmp_path / "home") and (tmp_path / "home").is_dir()


def test_a_home_that_is_a_link_or_not_private_is_refused(tmp_path):
    from provision.errors import ProvisionError

    (tmp_path / "elsewhere").mkdir()
    (tmp_path / "link").symlink_to(tmp_path / "elsewhere")
    with pytest.raises(ProvisionError, match="link"):
        Runner(home=str(tmp_path / "link")).run(["true"])
    (tmp_path / "open").mkdir(mode=0o777)
    os.chmod(tmp_path / "open", 0o777)
    Runner(home=str(tmp_path / "open")).run(["true"])
    assert (tmp_path / "open").stat().st_mode & 0o077 == 0  # made private, not refused
