"""Demo platforms and the drush stand-in, run for real through the Runner."""
from __future__ import annotations

import io
import json
import re
import sqlite3
import stat
import sys
import uuid
from pathlib import Path

import pytest

from provision.demo import make_platform
from provision.errors import ProvisionError, TimedOut
from provision.platform import inspect_platform
from provision.runner import Runner
from provision.settings_php import DatabaseSettings, read_database_settings, render_settings_php
from tests.services import need_program, need_service


class Log(list):
    def __call__(self, level: str, line: str) -> None:
        self.append(line)

    @property
    def text(self) -> str:
        return "\n".join(self)


def drush(root: Path, *args: str, runner: Runner | None = None, timeout: float | None = None,
          docroot: Path | None = None) -> str:
    """Run the platform's drush as the product does; returns its stdout."""
    out = io.BytesIO()
    (runner or Runner(Log())).run([str(root / "vendor" / "bin" / "drush"), f"--root={docroot or root}", *args],
                                  stdout=out, timeout=timeout, cwd=docroot or root)
    return out.getvalue().decode()


def status(root: Path, uri: str, docroot: Path | None = None) -> dict[str, str]:
    return json.loads(drush(root, f"--uri={uri}", "status", "--format=json", docroot=docroot))


@pytest.mark.parametrize("drupal, composer", [(7, False), (10, True), (11, False)])
def test_it_builds_a_drupal_shaped_platform(tmp_path: Path, drupal: int, composer: bool) -> None:
    root = make_platform(tmp_path / "p", drupal=drupal, composer=composer)
    docroot = root / "web" if composer else root
    info = inspect_platform(root)
    assert (info.docroot, info.major) == (docroot, drupal)
    assert "served by sites/$dir" in (docroot / "index.php").read_text()
    assert (docroot / "sites" / "default" / "default.settings.php").is_file()
    assert (docroot / "sites" / "sites.php").read_text().startswith("<?php")
    launcher = root / "vendor" / "bin" / "drush"
    assert stat.S_IMODE(launcher.stat().st_mode) == 0o755
    assert launcher.read_text().splitlines()[0] == f"#!{sys.executable} -S"


def test_it_refuses_to_build_over_an_existing_directory(tmp_path: Path) -> None:
    (tmp_path / "p").mkdir()
    (tmp_path / "p" / "keep.txt").write_text("mine")
    with pytest.raises(ProvisionError, match="not empty"):
        make_platform(tmp_path / "p")


def test_it_creates_installed_sites_on_sqlite(tmp_path: Path) -> None:
    root = make_platform(tmp_path / "p", sites=2, db_dir=tmp_path / "dbs")
    db = read_database_settings(root / "sites" / "site2.example.test" / "settings.php")
    assert db is not None and db.driver == "sqlite" and Path(db.database).parent == tmp_path / "dbs"
    with sqlite3.connect(db.database) as conn:
        assert conn.execute("SELECT name FROM users WHERE uid = 1").fetchone() == ("admin",)
        data = conn.execute("SELECT data FROM config WHERE name = 'system.site'").fetchone()[0]
    assert json.loads(data)["name"] == "Site 2"
    result = status(root, "site2.example.test")
    assert result["db-status"] == "Connected" and result["bootstrap"] == "Successful"
    assert result["drupal-version"] == "10.3.1" and result["site"] == "sites/site2.example.test"


def test_it_installs_updates_and_logs_in_a_site_through_the_runner(tmp_path: Path) -> None:
    root = make_platform(tmp_path / "p", composer=True)
    docroot = root / "web"
    log = Log()
    runner = Runner(log, secrets=["s3cret pass"])
    db_file = tmp_path / "new.sqlite"
    drush(root, "-y", "--uri=new.example.test", "site:install", "minimal",
          f"--db-url=sqlite://localhost/{db_file}", "--sites-subdir=new.example.test",
          "--site-name=New 'site'", "--account-name=boss", "--account-pass=s3cret pass",
          "--account-mail=boss@example.test", runner=runner, docroot=docroot)
    assert "[success] Installation complete." in log.text and "s3cret" not in log.text
    site = docroot / "sites" / "new.example.test"
    assert (site / "files" / ".stand-in-installed").read_text() == "New 'site'\n"
    assert read_database_settings(site / "settings.php") == DatabaseSettings(driver="sqlite", database=str(db_file))
    assert status(root, "new.example.test", docroot)["bootstrap"] == "Successful"

    link = drush(root, "-l", "http://new.example.test", "uli", docroot=docroot)
    assert re.fullmatch(r"http://new\.example\.test/user/reset/1/\d+/[\w-]+/login\n", link)

    log.clear()
    drush(root, "--uri=new.example.test", "updb", "-y", runner=runner, docroot=docroot)
    assert "[success] No pending updates." in log.text
    (root / ".standin").mkdir()
    (root / ".standin" / "pending-updates").write_text("system_update_10301\nnode_update_10201\n")
    drush(root, "--uri=new.example.test", "updatedb", "--yes", runner=runner, docroot=docroot)
    assert "Update started: node_update_10201" in log.text
    with sqlite3.connect(db_file) as conn:
        rows = dict(conn.execute("SELECT name, value FROM key_value WHERE collection = 'system.schema'"))
    assert rows == {"system": "10301", "node": "10201"}

    log.clear()
    drush(root, "--uri=new.example.test", "cr", runner=runner, docroot=docroot)
    assert log[-1] == " [success] Cache rebuild complete."


def test_it_installs_from_the_sites_settings_php(tmp_path: Path) -> None:
    root = make_platform(tmp_path / "p", drupal=7)
    site = root / "sites" / "d7.example.test"
    site.mkdir()
    db = DatabaseSettings(driver="sqlite", database=str(tmp_path / "d7.sqlite"), prefix="pre_")
    (site / "settings.php").write_text(render_settings_php(db, drupal=7, hash_salt="x", file_public_path="f"))
    drush(root, "site-install", "standard", "--sites-subdir=d7.example.test", "--site-name=Seven", "-y")
    with sqlite3.connect(db.database) as conn:
        assert conn.execute("SELECT value FROM pre_key_value WHERE name = 'system'").fetchone() == ("7080",)
    assert status(root, "d7.example.test")["bootstrap"] == "Successful"


def test_it_fails_like_drush(tmp_path: Path) -> None:
    root = make_platform(tmp_path / "p")
    with pytest.raises(ProvisionError, match='drush failed with exit code 1: Command "nope" is not defined.'):
        drush(root, "nope")
    with pytest.raises(ProvisionError, match="Pass --db-url"):
        drush(root, "si", "--sites-subdir=x.example.test")
    with pytest.raises(ProvisionError, match="The profile umami does not exist"):
        drush(root, "si", "umami", f"--db-url=sqlite://localhost/{tmp_path}/x.sqlite")
    with pytest.raises(ProvisionError, match="not installed"):
        drush(root, "uli", "--uri=missing.example.test")


def test_it_injects_failures_and_delays(tmp_path: Path) -> None:
    root = make_platform(tmp_path / "p", sites=1)
    (root / ".standin").mkdir()
    (root / ".standin" / "fail-site:install").write_text("SQLSTATE[HY000] [2002] Connection refused\n")
    with pytest.raises(ProvisionError, match=r"exit code 1: SQLSTATE\[HY000\] \[2002\] Connection refused$"):
        drush(root, "si", f"--db-url=sqlite://localhost/{tmp_path}/x.sqlite", "-y")
    (root / ".standin" / "sleep-status").write_text("30")
    with pytest.raises(TimedOut, match="drush ran past its deadline of 1 s"):
        drush(root, "-l", "site1.example.test", "st", runner=Runner(Log(), poll=0.05, kill_grace=0.5), timeout=1)


def _installed_through(root: Path, url: str, secret: str | None) -> None:
    log = Log()
    runner = Runner(log, secrets=[secret] if secret else ())
    drush(root, "si", "standard", f"--db-url={url}", "--sites-subdir=db.example.test",
          "--site-name=Real DB", "--account-pass=admin-pw", "-y", runner=runner)
    result = status(root, "db.example.test")
    assert result["db-status"] == "Connected" and result["bootstrap"] == "Successful"
    if secret:
        assert secret not in log.text
        assert secret not in (root / "vendor" / "bin" / "drush").read_text()


def test_it_installs_on_mariadb(tmp_path: Path) -> None:
    host, port = need_service("mariadb")
    client = need_program("mariadb", "mysql")
    name = f"hm_test_{uuid.uuid4().hex[:12]}"
    root_runner = Runner(Log())
    admin = [client, "--no-defaults", f"--host={host}", f"--port={port}", "--user=root", "--batch"]
    password = "p@ss'w\\rd"
    root_runner.run([*admin, "-e", f"CREATE DATABASE {name}; CREATE USER '{name}'@'%' IDENTIFIED BY "
                     f"'p@ss''w\\\\rd'; GRANT ALL ON {name}.* TO '{name}'@'%';"])
    try:
        root = make_platform(tmp_path / "p")
        db = DatabaseSettings(driver="mysql", database=name, username=name, password=password, host=host, port=port)
        _installed_through(root, db.url(), password)
        out = io.BytesIO()
        root_runner.run([*admin, "--skip-column-names", "-e", f"SELECT name FROM {name}.users WHERE uid = 1"],
                        stdout=out)
        assert out.getvalue() == b"admin\n"
    finally:
        root_runner.run([*admin, "-e", f"DROP DATABASE IF EXISTS {name}; DROP USER IF EXISTS '{name}'@'%';"])


def test_it_installs_on_postgresql(tmp_path: Path) -> None:
    host, port = need_service("postgresql")
    psql = need_program("psql")
    name = f"hm_test_{uuid.uuid4().hex[:12]}"
    admin = [psql, "-X", "-q", "-At", "-v", "ON_ERROR_STOP=1", "-h", host, "-p", str(port), "-U", "postgres",
             "-d", "postgres"]
    runner = Runner(Log())
    runner.run([*admin, "-c", f"CREATE DATABASE {name}"])
    try:
        root = make_platform(tmp_path / "p", drupal=11)
        _installed_through(root, f"pgsql://postgres@{host}:{port}/{name}", None)
        out = io.BytesIO()
        runner.run([*admin[:-1], name, "-c", "SELECT mail FROM users WHERE uid = 1"], stdout=out)
        assert out.getvalue() == b"admin@example.com\n"
    finally:
        runner.run([*admin, "-c", f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"])
