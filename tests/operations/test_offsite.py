"""Off-site copies through the engine: server.replicate copies each backup to a real SFTP remote
(a private sshd) and records where it is; the disaster drill loses the whole local backup
directory and the sites and brings each back from the remote, files byte for byte and database
rows included; server.verify-remote reads the copies back; a client's remote takes only that
client's backups, and its secrets appear in no log, task or audit record."""
from __future__ import annotations

import json
import shutil
from io import StringIO

import pytest
from django.conf import settings
from django.core.management import call_command

from hosting import offsite
from hosting.actor import Operator
from hosting.engine.worker import execute
from hosting.models import AuditEvent, Backup, BackupCopy, BackupRemote, Client, Site, Task, TaskLog
from hosting.starting import start_task
from tests.offsite_servers import S3, Sftp, s3_remote, sftp_remote  # noqa: F401  (fixtures)
from tests.operations.conftest import log_of, rows, site_paths, tree_checksums, write_rows

ADMIN = Operator("cli:test")
SQLITE = pytest.mark.parametrize("engine", ["sqlite"])


def add_sftp(server, remote: Sftp, name: str = "far", client: Client | None = None) -> BackupRemote:
    return offsite.add_remote(ADMIN, server=server, client=client, name=name, kind="sftp",
                              options=remote.options(), secrets={"private_key": remote.private_key})


def replicated(server) -> Task:
    """Run the replication a backup queued (or start one)."""
    task = Task.objects.filter(server=server, kind="replicate", state=Task.QUEUED).first() \
        or start_task(ADMIN, server, "replicate", {})
    execute(task.pk)
    task.refresh_from_db()
    return task


def started(target, kind: str, data: dict | None = None) -> Task:
    task = start_task(ADMIN, target, kind, data or {})
    execute(task.pk)
    task.refresh_from_db()
    return task


@SQLITE
def test_the_disaster_drill_brings_every_site_back_from_the_remote(installed, run, local, sftp_remote):
    remote = add_sftp(local, sftp_remote)
    sites = [installed() for _ in range(3)]
    before: dict[int, tuple[dict[str, str], list[tuple]]] = {}
    made: dict[int, Backup] = {}
    for n, site in enumerate(sites):
        write_rows(site, [f"row-{n}-a", f"row-{n}-b"])
        _, directory = site_paths(site)
        (directory / "files").mkdir(exist_ok=True)
        (directory / "files" / f"upload-{n}.bin").write_bytes(bytes(range(256)) * (n + 3))
        assert run(site, "backup").state == Task.SUCCEEDED
        made[site.pk] = Backup.objects.filter(site=site, kind=Backup.MANUAL).get()
        before[site.pk] = (tree_checksums(directory), rows(site, "hm_drill"))
    # Each backup queued a replication (after its record was committed); one run does them all.
    assert Task.objects.filter(kind="replicate", state=Task.QUEUED).count() == 1
    task = replicated(local)
    assert task.state == Task.SUCCEEDED, log_of(task)
    assert set(BackupCopy.objects.filter(remote=remote).values_list("backup_id", flat=True)) >= \
        {b.pk for b in made.values()}
    assert offsite.behind(remote).missing == 0
    for backup in made.values():
        assert offsite.locations(backup) == ["local", "far"]

    # The disaster: the sites are deleted, then the whole backup directory is lost.
    for site in sites[:2]:
        assert run(site, "delete").state == Task.SUCCEEDED
    write_rows(sites[2], ["overwritten"])
    shutil.rmtree(settings.HARBORMASTER_BACKUP_DIR)
    assert offsite.locations(made[sites[0].pk]) == ["far"]

    for site in sites[:2]:
        site.refresh_from_db()
        task = started(site, "restore-deleted", {"backup": made[site.pk].pk})
        assert task.state == Task.SUCCEEDED, (task.summary, log_of(task))
        assert "fetched from the remote far" in log_of(task)
    # A live site's restore fetches too (its safety backup goes into a store started anew).
    task = started(sites[2], "restore", {"backup": made[sites[2].pk].pk})
    assert task.state == Task.SUCCEEDED, (task.summary, log_of(task))
    for site in sites:
        site.refresh_from_db()
        assert site.status == Site.ENABLED
        _, directory = site_paths(site)
        files, table = before[site.pk]
        assert tree_checksums(directory) == files
        assert rows(site, "hm_drill") == table


@SQLITE
def test_verify_remote_reads_the_copies_back_and_catches_damage(installed, run, local, sftp_remote):
    add_sftp(local, sftp_remote)
    site = installed()
    assert run(site, "backup").state == Task.SUCCEEDED
    assert replicated(local).state == Task.SUCCEEDED
    out = StringIO()
    call_command("backups", "verify", "--remote", "far", "--server", local.name, stdout=out)
    task = Task.objects.filter(kind="verify-remote").latest("pk")
    assert f"Queued task #{task.pk}" in out.getvalue()
    execute(task.pk)
    task.refresh_from_db()
    assert task.state == Task.SUCCEEDED, log_of(task)
    assert BackupCopy.objects.filter(verified_at__isnull=False).count() == 1
    backup = Backup.objects.get(site=site, kind=Backup.MANUAL)
    for pack in (sftp_remote.root / local.name / site.domain / "objects" / "packs").glob("*.pack"):
        data = bytearray(pack.read_bytes())
        data[-3] ^= 0x55
        pack.write_bytes(bytes(data))
    task = started(local, "verify-remote", {"remote": "far"})
    assert task.state == Task.FAILED
    assert BackupCopy.objects.get(backup=backup).verify_error


@SQLITE
def test_a_clients_remote_takes_only_that_clients_backups(installed, run, local, sftp_remote, domains):
    mine, theirs = Client.objects.create(name="mine"), Client.objects.create(name="theirs")
    site_mine, site_theirs = installed(client=mine), installed(client=theirs)
    for site in (site_mine, site_theirs):
        assert run(site, "backup").state == Task.SUCCEEDED
    remote = add_sftp(local, sftp_remote, "mine-storage", client=mine)
    assert replicated(local).state == Task.SUCCEEDED
    copied = set(BackupCopy.objects.filter(remote=remote).values_list("backup__site_id", flat=True))
    assert copied == {site_mine.pk}
    assert (sftp_remote.root / local.name / site_mine.domain).is_dir()
    assert not (sftp_remote.root / local.name / site_theirs.domain).exists()
    # Their backup is never fetched from my remote, even if a copy row said so.
    backup = Backup.objects.filter(site=site_theirs).first()
    BackupCopy.objects.create(backup=backup, remote=remote)
    assert not offsite.restorable_copies(backup).exists()


@SQLITE
def test_no_secret_reaches_a_log_a_task_or_the_audit(installed, run, local, sftp_remote):
    remote = add_sftp(local, sftp_remote)
    site = installed()
    assert run(site, "backup").state == Task.SUCCEEDED
    assert replicated(local).state == Task.SUCCEEDED
    key_lines = [line for line in sftp_remote.private_key.splitlines() if "PRIVATE KEY" not in line and line]
    recorded = "\n".join([
        *TaskLog.objects.values_list("line", flat=True),
        *(json.dumps(t.args) + t.summary + json.dumps(t.result) for t in Task.objects.all()),
        *(json.dumps([e.before, e.after, e.detail]) for e in AuditEvent.objects.all()),
        json.dumps(list(BackupRemote.objects.values_list("options", flat=True))),
    ])
    assert "PRIVATE KEY" not in recorded
    for line in key_lines:
        assert line not in recorded
    assert key_lines[0] not in remote.sealed_secrets


@SQLITE
def test_ping_fails_while_a_remote_is_behind_too_long(installed, run, local, sftp_remote, settings):
    from hosting import health

    add_sftp(local, sftp_remote)
    site = installed()
    assert run(site, "backup").state == Task.SUCCEEDED
    Backup.objects.update(created_at=Backup.objects.get().created_at.replace(year=2020))
    check = health.offsite_remotes()
    assert not check.ok and "far" in check.detail
    assert replicated(local).state == Task.SUCCEEDED
    assert health.offsite_remotes().ok



@SQLITE
def test_the_command_line_adds_a_remote_from_secret_files_and_lists_where_backups_are(installed, run, local,
                                                                                       sftp_remote, tmp_path):
    from django.core.management import CommandError

    key = tmp_path / "key"
    key.write_text(sftp_remote.private_key)
    options = [f"--option={k}={v}" for k, v in sftp_remote.options().items()]
    out = StringIO()
    call_command("backups", "remote", "add", "far", "--server", local.name, "--kind", "sftp", *options,
                 "--secret-file", f"private_key={key}", stdout=out)
    assert "Added the remote far" in out.getvalue()
    with pytest.raises(CommandError, match="path"):
        call_command("backups", "remote", "add", "bad", "--server", local.name, "--kind", "sftp",
                     *options, "--option=path=/srv/../etc", "--secret-file", f"private_key={key}")
    site = installed()
    assert run(site, "backup").state == Task.SUCCEEDED
    assert replicated(local).state == Task.SUCCEEDED
    out = StringIO()
    call_command("backups", "list", stdout=out)
    assert "local,far" in out.getvalue()
    out = StringIO()
    call_command("backups", "remote", "list", "--json", stdout=out)
    listed = json.loads(out.getvalue())
    assert listed[0]["name"] == "far" and listed[0]["behind"] == 0
    assert "PRIVATE" not in out.getvalue()
    out = StringIO()
    call_command("backups", "replicate", "--server", local.name, stdout=out)
    assert "Queued task #" in out.getvalue()


@SQLITE
def test_a_site_comes_back_from_an_s3_remote(installed, run, local, s3_remote):
    offsite.add_remote(ADMIN, server=local, client=None, name="bucket", kind="s3", options=s3_remote.options(),
                       secrets=S3.secrets())
    site = installed()
    write_rows(site, ["kept in the bucket"])
    assert run(site, "backup").state == Task.SUCCEEDED
    backup = Backup.objects.get(site=site, kind=Backup.MANUAL)
    assert replicated(local).state == Task.SUCCEEDED
    _, directory = site_paths(site)
    files = tree_checksums(directory)
    shutil.rmtree(settings.HARBORMASTER_BACKUP_DIR)
    write_rows(site, ["lost"])
    task = started(site, "restore", {"backup": backup.pk})
    assert task.state == Task.SUCCEEDED, (task.summary, log_of(task))
    assert [r[1] for r in rows(site, "hm_drill")] == ["kept in the bucket"]
    assert tree_checksums(directory) == files
    logged = "\n".join(TaskLog.objects.values_list("line", flat=True))
    assert all(secret not in logged for secret in S3.secrets().values())
