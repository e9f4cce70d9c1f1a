"""server.replicate, server.verify-remote, and fetching a backup back for a restore.

replicate:      for each enabled remote of the server (or the one named in args["remote"]), copy
                what it lacks of each site's store (provision.offsite.replicate_dir) and record
                which backups it holds (BackupCopy). Idempotent: a run again copies nothing twice.
verify-remote:  read each copy on args["remote"] (or args["backup"] only) back into a scratch
                store and re-hash all of it; the copy's verified_at or verify_error is recorded.
ensure_local:   restore's and restore-deleted's check step: a backup whose archive is gone from
                the local disk is fetched from a remote that holds it first."""
from __future__ import annotations

import shutil
import tempfile
from collections import defaultdict
from pathlib import Path

from django.conf import settings
from django.utils import timezone

from hosting.engine.steps import Context, Plan
from hosting.models import Backup, BackupCopy, BackupRemote, Server
from hosting.offsite import restorable_copies, scope
from hosting.operations import resources
from hosting.operations.common import step, target_rows
from hosting.sealed import Unsealable
from provision import offsite
from provision.errors import ProvisionError


def _server(ctx: Context) -> Server:
    return target_rows(Server, ctx.task.server_id).get()


def _open(ctx: Context, row: BackupRemote) -> offsite.Remote:
    try:
        remote = row.remote()
    except (Unsealable, offsite.RemoteInvalid) as exc:
        raise ProvisionError(f"The remote {row.name}: {exc}") from None
    for value in remote.secrets.values():
        for line in value.splitlines():
            if len(line.strip()) >= 8:
                ctx.runner.add_secret(line.strip())  # redacted if rclone ever echoes one
    return remote


def _human(size: int) -> str:
    from django.template.defaultfilters import filesizeformat

    return str(filesizeformat(size)).replace("\xa0", " ")


def replicate_one(ctx: Context, server: Server, row: BackupRemote) -> int:
    """Copy to ROW what it lacks; returns how many backups it holds afterwards."""
    remote = _open(ctx, row)
    by_domain: dict[str, list[Backup]] = defaultdict(list)
    for backup in scope(row).only("pk", "domain", "path", "client_id"):
        by_domain[backup.domain].append(backup)
    files = size = held = 0
    with offsite.session(remote) as session:
        for domain in sorted(by_domain):
            site_dir = resources.backup_dir(domain)
            if not site_dir.is_dir():
                continue
            if row.client_id is not None and \
                    Backup.objects.filter(domain=domain).exclude(client_id=row.client_id).exists():
                # The store of this domain holds another client's backups too (a domain used again):
                # its packs would carry that client's files to this client's storage.
                ctx.warning(f"{domain}: its backup store also holds backups of another client; it is not "
                            f"copied to the client's remote {row.name}.")
                continue
            names = {b.file_name: b for b in by_domain[domain] if Path(b.path).parent == site_dir}
            done = offsite.replicate_dir(session, site_dir, server.name, domain, ctx.runner, archives=set(names))
            files, size = files + done.files, size + done.bytes
            there = [b for name, b in names.items() if name in done.archives]
            with ctx.recording():
                BackupCopy.objects.bulk_create([BackupCopy(backup=b, remote=row) for b in there],
                                               ignore_conflicts=True)
            held += len(there)
    with ctx.recording():
        BackupRemote.objects.filter(pk=row.pk).update(replicated_at=timezone.now(), last_error="")
    ctx.info(f"{row.name} ({row.where}): {files} file(s), {_human(size)} copied; it holds {held} backup(s).")
    return held


def replicate(ctx: Context) -> None:
    server = _server(ctx)
    rows = BackupRemote.objects.filter(server=server, enabled=True).select_related("client")
    wanted = (ctx.task.args or {}).get("remote")
    if wanted:
        rows = rows.filter(name=wanted)
        if not rows.exists():
            raise ProvisionError(f"The server {server.name} has no enabled remote named {str(wanted)[:63]!r}.")
    failed: list[str] = []
    for row in rows:
        try:
            replicate_one(ctx, server, row)
        except ProvisionError as exc:
            ctx.error(f"{row.name}: {exc}")
            with ctx.recording():
                BackupRemote.objects.filter(pk=row.pk).update(last_error=str(exc)[:1000])
            failed.append(row.name)
    if failed:
        raise ProvisionError(f"Replication to {', '.join(failed)} failed; the log says why. What was copied stays.")


def replicate_plan(task: object) -> Plan:
    return Plan([step("replicate", replicate, label="Copy new backups to the remotes")])


def verify(ctx: Context) -> None:
    server = _server(ctx)
    args = ctx.task.args or {}
    row = BackupRemote.objects.filter(server=server, name=args.get("remote", "")).first()
    if row is None:
        raise ProvisionError(f"The server {server.name} has no remote named {str(args.get('remote'))[:63]!r}.")
    copies = BackupCopy.objects.filter(remote=row).select_related("backup").order_by("backup__created_at")
    if args.get("backup"):
        copies = copies.filter(backup_id=args["backup"])
    remote = _open(ctx, row)
    root = Path(settings.HARBORMASTER_BACKUP_DIR)
    root.mkdir(mode=0o700, parents=True, exist_ok=True)
    scratch = Path(tempfile.mkdtemp(prefix=".verify-remote-", dir=root))
    bad: list[str] = []
    good = 0
    try:
        with offsite.session(remote) as session:
            for copy in copies:
                backup = copy.backup
                try:
                    manifest = offsite.verify_remote_backup(session, server.name, backup.domain, backup.file_name,
                                                            backup.sha256, ctx.runner, scratch)
                    if manifest.get("domain") != backup.domain:
                        raise ProvisionError(f"it is a backup of {manifest.get('domain')}")
                except ProvisionError as exc:
                    ctx.error(f"Backup #{backup.pk} ({backup.file_name}) on {row.name}: {exc}")
                    with ctx.recording():
                        BackupCopy.objects.filter(pk=copy.pk).update(verify_error=str(exc)[:1000])
                    bad.append(f"#{backup.pk}")
                    continue
                with ctx.recording():
                    BackupCopy.objects.filter(pk=copy.pk).update(verified_at=timezone.now(), verify_error="")
                good += 1
                ctx.info(f"Backup #{backup.pk} ({backup.file_name}) on {row.name}: read back, every member matches.")
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    if bad:
        raise ProvisionError(f"{len(bad)} copies on {row.name} do not verify ({', '.join(bad[:10])}); {good} do.")
    ctx.info(f"{good} copies on {row.name} verified.")


def verify_remote_plan(task: object) -> Plan:
    return Plan([step("verify", verify, label="Read back and re-hash the remote copies")])


def ensure_local(ctx: Context, backup: Backup) -> Path:
    """BACKUP's archive on the local disk: as it is, or fetched from a remote that holds it."""
    path = resources.roots().inside(backup.path)
    if path.parent != resources.backup_dir(backup.domain):
        # Checked whatever is on disk: a tampered row must not make a fetch write elsewhere.
        raise ProvisionError(f"The file of backup #{backup.pk} is not in the backup store of {backup.domain}.")
    if path.is_file():
        return path
    for copy in restorable_copies(backup):
        row = copy.remote
        try:
            remote = _open(ctx, row)
            with offsite.session(remote) as session:
                offsite.fetch_backup(session, row.server.name, backup.domain, path.parent, path.name, backup.sha256,
                                     ctx.runner)
            ctx.info(f"Backup #{backup.pk} was not on this disk: fetched from the remote {row.name}.")
            return path
        except ProvisionError as exc:
            ctx.warning(f"Backup #{backup.pk} could not be fetched from the remote {row.name}: {exc}")
    raise ProvisionError(f"The file of backup #{backup.pk} is gone: {path}, and no remote holds a copy.")
