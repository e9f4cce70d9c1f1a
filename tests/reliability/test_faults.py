"""Faults: each ends with a clear error in the task log and nothing lost. The site database
server unreachable during a backup, the disk full while writing an archive, drush failing in the
middle of an install, a worker's clock a minute ahead or behind."""
from __future__ import annotations

import random
import socket
import subprocess
import time
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from django.db import connection

from hosting.models import Backup, Site, Task
from provision.preflight import check_space
from tests.operations.conftest import (  # noqa: F401 - fixtures
    _ops,
    domains,
    installed,
    log_of,
    make_platform,
    make_server,
    rows,
    run,
    tree_checksums,
    write_rows,
)
from tests.services import need_service


@pytest.fixture
def local(make_server):
    return make_server("sqlite")


@pytest.fixture
def platform(local, make_platform):
    return make_platform(local)


def _closed_port() -> int:
    """A 127.0.0.1 port nobody listens on (bound, then closed)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _archives(root: Path) -> list[Path]:
    """Archives and partial archives below ROOT (the backup store's own lock files are not)."""
    return [p for p in root.rglob("*") if p.is_file() and p.name != ".lock"]


def _error_lines(task: Task) -> list[str]:
    return [line.line for line in task.log.filter(level="error")]


def test_it_fails_a_backup_cleanly_when_the_database_server_is_unreachable(make_server, make_platform, domains,
                                                                          run, tmp_path):
    need_service("mariadb")
    server = make_server("mysql")
    platform = make_platform(server)
    from hosting.engine.worker import execute
    from hosting.inventory import add_site

    site, install = add_site(domains.new(), platform)
    execute(install.pk)
    assert Task.objects.get(pk=install.pk).state == Task.SUCCEEDED
    site.refresh_from_db()
    write_rows(site, ["kept"])
    files = tree_checksums(Path(platform.docroot) / "sites" / site.domain)
    # The database server goes away: its address now answers nothing.
    server.db_port = _closed_port()
    server.save()
    task = run(site, "backup")
    assert task.state == Task.FAILED
    log = log_of(task)
    assert _error_lines(task), log
    assert any(w in (task.summary + log).lower() for w in ("connect", "refused", "reach")), task.summary
    assert not Backup.objects.filter(site=site).exists()
    assert _archives(tmp_path / "data" / "backups") == []  # no archive, no partial
    assert tree_checksums(Path(platform.docroot) / "sites" / site.domain) == files
    server.db_port = 3306
    server.save()
    assert rows(site, "hm_drill") == [("0", "kept")]


@pytest.fixture
def full_disk(tmp_path: Path):
    """A 2 MB tmpfs inside the roots, unmounted afterwards; skips where mounting is not allowed."""
    mount = tmp_path / "full"
    mount.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", str(mount)],
                          capture_output=True, text=True, timeout=10)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a 2 MB tmpfs here: {done.stderr.strip()}")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], capture_output=True, timeout=10)


def _photos(files: Path, megabytes: int) -> None:
    files.mkdir(exist_ok=True)
    rng = random.Random(1)
    for i in range(megabytes):
        (files / f"photo{i}.jpg").write_bytes(rng.randbytes(1024 * 1024))


def test_it_refuses_a_backup_that_cannot_fit(installed, platform, run, settings, full_disk):
    site = installed()
    files = Path(platform.docroot) / "sites" / site.domain / "files"
    _photos(files, 4)  # incompressible: the archive cannot fit in 2 MB
    before = tree_checksums(files.parent)
    settings.HARBORMASTER_BACKUP_DIR = full_disk
    task = run(site, "backup")
    assert task.state == Task.FAILED
    assert "free some space" in task.summary and "free some space" in "\n".join(_error_lines(task))
    assert not Backup.objects.filter(site=site).exists() and _archives(full_disk) == []
    assert tree_checksums(files.parent) == before


def _fill(disk: Path) -> None:
    """Fill DISK to the last byte (another tenant's upload)."""
    try:
        with open(disk / "filler", "wb") as out:
            while True:
                out.write(b"\0" * 65536)
                out.flush()
    except OSError:
        pass


def test_it_fails_a_backup_cleanly_when_the_disk_fills_up_while_writing(installed, platform, run, settings,
                                                                       full_disk, monkeypatch):
    # The pre-flight check keeps 64 MiB free on any disk; a 2 MB one must let this backup start.
    monkeypatch.setattr("provision.preflight.RESERVE", 0)
    from provision.backup import incremental
    checked = []

    def check_then_fill(dest, needed, what):
        # The backup passes its pre-flight check, then the disk fills up under it: the write
        # that follows meets the real ENOSPC. Filling here, not from a racing thread, makes
        # the moment certain.
        check_space(dest, needed, what)
        checked.append(needed)
        _fill(full_disk)

    monkeypatch.setattr(incremental, "check_space", check_then_fill)
    site = installed()
    files = Path(platform.docroot) / "sites" / site.domain / "files"
    _photos(files, 1)  # fits in 2 MB, until the disk fills up under it
    before = tree_checksums(files.parent)
    settings.HARBORMASTER_BACKUP_DIR = full_disk
    task = run(site, "backup")
    assert checked, "the backup never reached its pre-flight check"
    assert task.state == Task.FAILED, (task.summary, log_of(task))
    text = (task.summary + "\n".join(_error_lines(task))).lower()
    assert "no space left" in text, log_of(task)  # the real ENOSPC, not the pre-flight refusal
    assert not Backup.objects.filter(site=site).exists()
    # No archive and no partial one; content-addressed objects stored before the disk filled
    # may stay (the next backup reuses them, garbage collection drops them if unreferenced).
    assert not [p for p in _archives(full_disk) if p.name.endswith((".partial", ".zst"))]
    assert tree_checksums(files.parent) == before
    # Nothing wedged: on a disk with room, the next backup works. (Not the 2 MB one: objects
    # the failed backup stored may leave less free than the pre-flight estimate asks for.)
    monkeypatch.setattr(incremental, "check_space", check_space)
    settings.HARBORMASTER_BACKUP_DIR = Path(settings.HARBORMASTER_DATA_DIR) / "backups"
    again = run(site, "backup")
    assert again.state == Task.SUCCEEDED, (again.summary, log_of(again))


def test_it_fails_an_install_cleanly_when_drush_fails_midway(platform, domains, run, tmp_path):
    from hosting.engine.worker import execute
    from hosting.inventory import add_site

    standin = Path(platform.path) / ".standin"
    standin.mkdir()
    (standin / "fail-site:install").write_text("SQLSTATE[HY000] [2002] Connection refused (stand-in)\n")
    site, task = add_site(domains.new(), platform)
    execute(task.pk)
    task.refresh_from_db()
    assert task.state == Task.FAILED and "rolled back" in task.summary
    assert any("Connection refused (stand-in)" in line for line in _error_lines(task) + [task.summary])
    assert "Connection refused (stand-in)" in log_of(task)
    assert not (Path(platform.docroot) / "sites" / site.domain).exists()
    assert list((tmp_path / "data" / "databases").glob("*")) == []
    assert not task.locks.exists()


class _Skewed(datetime):
    """datetime whose now() runs SKEW ahead: the worker's own clock."""
    skew = timedelta(0)

    @classmethod
    def now(cls, tz=None):  # type: ignore[override]
        return datetime.now(tz) + cls.skew


@pytest.mark.parametrize("skew", [60, -60])
def test_it_judges_heartbeats_by_the_database_clock(monkeypatch, platform, settings, skew):
    if connection.vendor != "postgresql":
        pytest.skip("on SQLite the database clock is the host's own (docs/decisions.md): one host, one clock")
    from django.utils import timezone as dj_timezone

    from hosting.actions import queue_task
    from hosting.engine import clock
    from hosting.engine.claim import claim
    from hosting.engine.heartbeat import Heartbeat, Stop
    from hosting.engine.owner import Owner
    from hosting.engine.reaper import Reaper

    settings.HARBORMASTER_HEARTBEAT = 0.5
    site = Site.objects.create(domain="clock.example.test", platform=platform, status="enabled")
    task = queue_task(site, "verify")
    # Another host's worker: only its heartbeat can tell whether it lives.
    owner = Owner("other-host.example", 4242, 1.0)
    assert claim(task.pk, owner) is not None
    real_now = dj_timezone.now
    _Skewed.skew = timedelta(seconds=skew)
    monkeypatch.setattr(dj_timezone, "now", lambda: real_now() + timedelta(seconds=skew))
    monkeypatch.setattr(clock, "datetime", _Skewed)
    assert Heartbeat(task.pk, owner, Stop()).beat()
    monkeypatch.undo()
    beat_at = Task.objects.get(pk=task.pk).heartbeat_at
    assert abs((beat_at - clock.db_now()).total_seconds()) < 2, "the heartbeat took the worker's clock"
    reaper = Reaper("local", beat=0.5, report=lambda line: None)
    # Alive: a worker whose clock is behind is not reaped wrongly...
    assert task.pk not in [seen.pk for seen in reaper.find_lost()]
    # ...and one that stops beating is lost, however far ahead its clock was: after 3 beats for
    # its own host's reaper, after 10 for this one (the owner's host gets to fence it first).
    time.sleep(2.0)
    assert task.pk not in [seen.pk for seen in reaper.find_lost()]
    time.sleep(3.5)
    assert task.pk in [seen.pk for seen in reaper.find_lost()]
    assert reaper.reap_one()
    task.refresh_from_db()
    assert task.state == Task.QUEUED and task.attempt == 1  # a verify is re-queued for its next attempt
