"""site.sync: copy the database and/or the files of another site of the same client on the same
server onto this site (production to staging). The task runs on the TARGET; args:
{"source": <Site id>, "database": bool, "files": bool}.

prepare (both sites installed, same client, same server, not the same site) -> backup (the
target as it is, kept as a "Before restore" backup: a sync replaces it like a restore) ->
database (the source's dump loaded into the target's OWN database, dropped and created again:
its name, user and settings.php are kept; undo: reloaded from the backup) -> files
(sites/<target>/files made a copy of the source's files/: regular files and folders only, links
never followed, settings.php and the site's SQLite file never touched; undo: the directory put
back from the backup) -> updatedb -> cache (drush on the target) -> record.

The source is only read; its lock is held for the duration (extra_locks), so nothing writes it
while it is dumped and copied."""
from __future__ import annotations

import os
import shutil
import stat
import tempfile
from pathlib import Path

from hosting.engine.steps import Context, Plan
from hosting.models import Backup, Site, Task
from hosting.operations import ownership, resources
from hosting.operations.backups import files_link_roots
from hosting.operations.common import flag, step
from hosting.operations.leftovers import clean_leftovers
from hosting.operations.site_common import (
    database_of,
    make_backup,
    mark_verified,
    measure,
    refuse_attention,
    site_of,
)
from hosting.operations.site_maintenance import reload_from_backup
from provision import drush, sitefiles
from provision.backup import restore_backup
from provision.errors import ProvisionError
from provision.sitedb import reload_from_archive

INSTALLED = (Site.ENABLED, Site.DISABLED)


def args_of(task: Task) -> tuple[int | None, bool, bool]:
    """(source site id, copy the database, copy the files) from the task's arguments."""
    args = task.args or {}
    try:
        source = int(args["source"]) if args.get("source") not in (None, "") else None
    except (TypeError, ValueError):
        source = None
    return source, bool(args.get("database")), bool(args.get("files"))


def source_refusal(target: Site, source: Site | None) -> str:
    """Why SOURCE cannot be synced onto TARGET ("" when it can). A site of another client reads
    as missing: its existence is not the target's client's to learn."""
    if source is None or source.client_id != target.client_id or source.status == Site.DELETED:
        return "There is no such site among this client's sites."
    if source.pk == target.pk:
        return "A site cannot be synced from itself: choose another site."
    if source.platform.server_id != target.platform.server_id:
        return f"{source.domain} is on another server; a sync stays on one server (migrate or clone instead)."
    if source.status not in INSTALLED:
        return f"{source.domain} is {source.status}: only an installed site can be synced from."
    if target.status not in INSTALLED:
        return f"{target.domain} is {target.status}: only an installed site can be synced onto."
    return source.attention_refusal("sync") or ""


def _source(ctx: Context) -> Site:
    return Site.objects.select_related("platform__server", "client").get(pk=ctx.state["source_id"])


def prepare(ctx: Context) -> None:
    target = site_of(ctx)
    refuse_attention(target, "sync")
    source_id, database, files = args_of(ctx.task)
    if not (database or files):
        raise ProvisionError("Say what to copy: the database, the files or both.")
    source = (Site.objects.select_related("platform__server", "client").filter(pk=source_id).first()
              if source_id is not None else None)
    reason = source_refusal(target, source)
    if reason:
        raise ProvisionError(reason)
    assert source is not None
    clean_leftovers(ctx, target)
    database_of(ctx, source, resources.site_dir(source))
    database_of(ctx, target, resources.site_dir(target))
    ctx.state.update({"source_id": source.pk, "database": database, "files": files})
    ctx.save_state()
    what = " and ".join(w for w, on in (("database", database), ("files", files)) if on)
    ctx.info(f"Syncing the {what} of {source.domain} onto {target.domain}.")


def backup(ctx: Context) -> None:
    made = make_backup(ctx, site_of(ctx), Backup.PRE_RESTORE, files=bool(ctx.state.get("files")))
    ctx.state.update({"backup_path": made.path, "backup_id": made.pk})
    ctx.save_state()
    ctx.info(f"{site_of(ctx).domain} backed up before the sync (backup #{made.pk}).")


# -- database ------------------------------------------------------------------------------

def database(ctx: Context) -> None:
    if not ctx.state.get("database"):
        ctx.info("The database is not copied (files only).")
        return
    source, target = _source(ctx), site_of(ctx)
    source_db = database_of(ctx, source, resources.site_dir(source))
    target_db = database_of(ctx, target, resources.site_dir(target))
    workdir = resources.work_dir()
    workdir.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(prefix=".sync-", suffix=".sql", dir=workdir)
    dump = Path(name)
    try:
        # Dumped in full before the target's database is touched: a source that cannot be read
        # leaves the target as it was.
        with os.fdopen(fd, "wb") as out:
            source_db.driver.dump(source_db.name, out, ctx.runner)
        flag(ctx, "db_replaced")
        owner = target_db.user or None
        target_db.driver.drop_database(target_db.name)
        target_db.driver.create_database(target_db.name)
        if owner:
            target_db.driver.grant(target_db.name, owner)
        with open(dump, "rb") as src:
            target_db.driver.load(target_db.name, src, ctx.runner, owner=owner)
    finally:
        dump.unlink(missing_ok=True)
    ctx.info(f"The database of {source.domain} is loaded into {target_db.name} (the target's own).")


def database_undo(ctx: Context) -> None:
    reload_from_backup(ctx, "db_replaced",
                       f"The database of {site_of(ctx).domain} is back as it was before the sync.")


# -- files ---------------------------------------------------------------------------------

def _files_dir(ctx: Context, site: Site) -> Path:
    """SITE's files/ as a real directory inside its site directory; a files/ that is a link is
    refused (a sync would write through it into whatever it names)."""
    files = resources.site_dir(site) / "files"
    if files.is_symlink():
        raise ProvisionError(f"files/ of {site.domain} is a link; a sync copies only a files/ directory "
                             "inside the site. Nothing was changed.")
    return files


def _kept(ctx: Context, site: Site) -> set[Path]:
    """Paths under SITE's directory a file copy never replaces nor takes: its SQLite file (and
    the journal beside it) when that lives inside the site."""
    directory = resources.site_dir(site)
    handle = ownership.recorded(site, directory)
    path = ownership.file_of(handle) if handle is not None else None
    if path is None:
        return set()
    return {Path(str(path) + suffix) for suffix in ("", "-journal", "-wal", "-shm")}


def copy_files(ctx: Context, source: Path, target: Path, skip: set[Path], keep: set[Path]) -> tuple[int, int]:
    """Make TARGET a copy of SOURCE: regular files and folders only. Links are never followed
    nor copied (a link could lead the target into another site's files or /etc); paths in SKIP
    are not taken from the source, paths in KEEP are not removed from the target. Returns
    (files copied, links left out)."""
    if target.is_dir():
        copy_clear(target, keep)
    target.mkdir(parents=True, exist_ok=True)
    copied = links = 0
    for dirpath, dirnames, filenames in os.walk(source, followlinks=False):
        ctx.runner.check_stop()
        here = Path(dirpath)
        out = target / here.relative_to(source)
        for name in list(dirnames):
            if (here / name).is_symlink():
                dirnames.remove(name)
                links += 1
                ctx.warning(f"{here / name} is a link; it is not followed nor copied.")
            else:
                _make_dir(out / name, (here / name).stat().st_mode)
        for name in filenames:
            path = here / name
            if path.is_symlink():
                links += 1
                ctx.warning(f"{path} is a link; it is not followed nor copied.")
            elif path.resolve() in skip or (out / name).resolve() in keep:
                continue
            elif path.is_file():
                copied += _copy_file(path, out / name)
    return copied, links


NOFOLLOW = os.O_NOFOLLOW | os.O_CLOEXEC


def _make_dir(path: Path, mode: int) -> None:
    """PATH as a real directory (a link put there meanwhile is refused, not written through)."""
    try:
        path.mkdir(mode=0o700)
    except FileExistsError:
        if path.is_symlink() or not path.is_dir():
            raise ProvisionError(f"{path} changed while the files were copied (it is not a directory); "
                                 "the sync is undone.") from None
    os.chmod(path, mode & 0o777, follow_symlinks=False)


def _copy_file(src: Path, dst: Path) -> int:
    """Copy the regular file SRC to DST. Neither is followed if it is a link by the time it is
    opened (the sites' own code may write both directories while the sync runs); DST is created
    new, after whatever stood there was removed."""
    if os.path.lexists(dst):
        sitefiles.remove(dst) if dst.is_dir() and not dst.is_symlink() else dst.unlink()
    try:
        fin = os.open(src, os.O_RDONLY | os.O_NONBLOCK | NOFOLLOW)
    except OSError:
        return 0  # gone or a link meanwhile: not copied
    with os.fdopen(fin, "rb") as reader:
        info = os.fstat(reader.fileno())
        if not stat.S_ISREG(info.st_mode):
            return 0
        fout = os.open(dst, os.O_WRONLY | os.O_CREAT | os.O_EXCL | NOFOLLOW, 0o600)
        with os.fdopen(fout, "wb") as writer:
            shutil.copyfileobj(reader, writer, 1 << 20)
            os.fchmod(writer.fileno(), info.st_mode & 0o777)
            os.utime(writer.fileno(), ns=(info.st_atime_ns, info.st_mtime_ns))
    return 1


def copy_clear(directory: Path, keep: set[Path]) -> None:
    """Remove what DIRECTORY holds but the paths in KEEP (and the folders leading to them)."""
    for entry in directory.iterdir():
        if not entry.is_symlink() and entry.resolve() in keep:
            continue
        if entry.is_dir() and not entry.is_symlink():
            if any(k.is_relative_to(entry.resolve()) for k in keep):
                copy_clear(entry, keep)
            else:
                sitefiles.remove(entry)
        else:
            entry.unlink()


def files(ctx: Context) -> None:
    if not ctx.state.get("files"):
        ctx.info("The files are not copied (database only).")
        return
    source, target = _source(ctx), site_of(ctx)
    src, dst = _files_dir(ctx, source), _files_dir(ctx, target)
    if not src.is_dir():
        raise ProvisionError(f"{source.domain} has no files/ directory; nothing was changed.")
    flag(ctx, "files_replaced")
    copied, links = copy_files(ctx, src, dst, _kept(ctx, source), _kept(ctx, target))
    ctx.info(f"{copied} files of {source.domain} copied into {dst}" + (f"; {links} links left out." if links else "."))


def files_undo(ctx: Context) -> None:
    if not ctx.state.get("files_replaced"):
        return
    target = site_of(ctx)
    directory = resources.site_dir(target)
    handle = ownership.recorded(target, directory)
    archive = resources.roots().inside(ctx.state["backup_path"])
    restore_backup(archive, directory, None, None, ctx.runner, files_link_roots=files_link_roots(target.domain))
    if handle is not None and handle.inside_site:
        reload_from_archive(archive, handle.driver, handle.name, ctx.runner)
    ctx.info(f"The directory of {target.domain} is back as it was before the sync.")
    ctx.state.pop("files_replaced")
    ctx.save_state()


# -- drush and record ----------------------------------------------------------------------

def _drush_args(ctx: Context) -> tuple[Path, Path, str]:
    target = site_of(ctx)
    database_of(ctx, target, resources.site_dir(target))
    return resources.platform_root(target.platform), resources.docroot(target.platform), target.domain


def updatedb(ctx: Context) -> None:
    if ctx.state.get("database"):
        drush.updatedb(ctx.runner, *_drush_args(ctx))


def cache(ctx: Context) -> None:
    drush.cache_rebuild(ctx.runner, *_drush_args(ctx))


def record(ctx: Context) -> None:
    target = site_of(ctx)
    directory = resources.site_dir(target)
    mark_verified(ctx, target, disk_files_bytes=sitefiles.disk_usage(directory))
    measure(ctx, target, database_of(ctx, target, directory))
    ctx.info(f"{target.domain} is synced.")


def _locks(task: Task) -> list[str]:
    source = args_of(task)[0]
    return [f"site:{source}"] if source else []


def sync_plan(task: Task) -> Plan:
    return Plan([
        step("prepare", prepare, label="Check both sites"),
        step("backup", backup, label="Back up the target site"),
        step("database", database, database_undo, label="Copy the database"),
        step("files", files, files_undo, label="Copy the files"),
        step("updatedb", updatedb, label="Run database updates (drush updatedb)"),
        step("cache", cache, label="Rebuild caches (drush cache:rebuild)"),
        step("record", record, label="Record the result"),
    ], extra_locks=_locks(task))

