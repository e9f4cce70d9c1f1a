"""Making a backup: the database dumped to a temporary file beside the archive, then one pass
over the dump and the site directory into `<domain>-<UTC>.tar.zst`, written as a hidden
`.partial` file and renamed only once complete and on disk."""
from __future__ import annotations

import datetime as dt
import json
import os
import secrets
import stat
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO

from provision.backup.archive import DATABASE, FORMAT, MANIFEST, SITE, Member, TarWriter
from provision.domains import normalise_domain
from provision.durable import fsync_dir
from provision.errors import ProvisionError

if TYPE_CHECKING:
    from provision.db.base import DatabaseDriver
    from provision.runner import Runner


@dataclass(frozen=True)
class BackupResult:
    path: Path
    size: int  # bytes of the archive file
    sha256: str  # of the archive file, for the Backup record
    manifest: dict[str, Any]


def backup_name(domain: str, when: dt.datetime) -> str:
    return f"{normalise_domain(domain)}-{when.astimezone(dt.UTC):%Y%m%dT%H%M%SZ}.tar.zst"


def create_backup(*, domain: str, site_dir: Path, dest_dir: Path, runner: Runner,
                  db_driver: DatabaseDriver | None, db_name: str | None,
                  follow_files_symlink: bool, platform_name: str = "", platform_path: str = "",
                  drupal_version: str = "", now: dt.datetime | None = None) -> BackupResult:
    """Back up SITE_DIR and the database DB_NAME into one archive in DEST_DIR.

    A symlinked `files/` is archived as the directory it points to when FOLLOW_FILES_SYMLINK,
    else as the link itself (its content then is not in the backup). A failed or cancelled
    backup leaves nothing behind in DEST_DIR."""
    when = (now or dt.datetime.now(dt.UTC)).astimezone(dt.UTC).replace(microsecond=0)
    name = backup_name(domain, when)
    site_dir = Path(site_dir)
    if not site_dir.is_dir():
        raise ProvisionError(f"The site directory {site_dir} does not exist.")
    dest_dir = Path(dest_dir)
    dest_dir.mkdir(parents=True, exist_ok=True)
    # Hidden, and unique to this run: a crashed run's leftovers are never mistaken for ours.
    token = secrets.token_hex(4)
    partial = dest_dir / f".{name}.{token}.partial"
    dump = dest_dir / f".{name}.{token}.database.sql.partial"
    try:
        if db_driver is not None and db_name:
            runner.log("info", f"Dumping the database {db_name}.")
            with _create_exclusive(dump) as out:
                db_driver.dump(db_name, out, runner)
        runner.log("info", f"Archiving {site_dir}.")
        with _create_exclusive(partial) as raw, TarWriter(raw, runner) as writer:
            members: list[Member] = []
            if dump.exists():
                with open(dump, "rb") as source:
                    members.append(writer.add_file(DATABASE, source, os.fstat(source.fileno()).st_size,
                                                   0o600, when.timestamp()))
            files_link = _archive_site(writer, site_dir, runner, follow_files_symlink, members)
            manifest = _manifest(domain, when, members, files_link, db_driver, db_name,
                                 platform_name, platform_path, drupal_version)
            text = json.dumps(manifest, indent=1, sort_keys=True).encode()
            writer.add_bytes(MANIFEST, text, when.timestamp())
            size, sha256 = writer.close()
            raw.flush()
            os.fsync(raw.fileno())
        final = _publish(partial, dest_dir, name)
    except OSError as exc:
        partial.unlink(missing_ok=True)
        # Unreadable file, full disk...: said in the task's words, not as a traceback.
        raise ProvisionError(f"The backup of {site_dir} failed: {exc}") from None
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    finally:
        dump.unlink(missing_ok=True)
    runner.log("info", f"Backup written: {final.name} ({size} bytes, {manifest['totals']['files']} "
                       f"files, {manifest['totals']['bytes']} bytes before compression).")
    return BackupResult(final, size, sha256, manifest)


def _create_exclusive(path: Path) -> BinaryIO:
    # 0600 and O_EXCL: a backup holds the site's secrets (settings.php, the database).
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
    return os.fdopen(fd, "wb", buffering=1 << 20)


def _publish(partial: Path, dest_dir: Path, name: str) -> Path:
    """Give the finished archive its name without ever replacing another backup: two backups
    of a site within one second get -1, -2 ... suffixes."""
    stem = name[: -len(".tar.zst")]
    for attempt in range(100):
        final = dest_dir / (name if attempt == 0 else f"{stem}-{attempt}.tar.zst")
        try:
            os.link(partial, final)  # fails if the name is taken, unlike rename
            partial.unlink()
        except FileExistsError:
            continue
        except OSError:
            # A file system without hard links: check, then rename (the site lock keeps
            # another backup of this site from taking the name in between).
            if os.path.lexists(final):
                continue
            os.rename(partial, final)
        fsync_dir(dest_dir)
        return final
    raise ProvisionError(f"Could not find a free name for {name} in {dest_dir}.")


def _walk(top: Path, arc_top: str) -> Iterator[tuple[str, os.DirEntry[str]]]:
    """(archive name, entry) below TOP, depth first, sorted; symlinks are not followed."""
    stack: list[tuple[Path, str]] = [(top, arc_top)]
    while stack:
        directory, arc_dir = stack.pop()
        with os.scandir(directory) as listing:
            entries = sorted(listing, key=lambda e: e.name)
        below: list[tuple[Path, str]] = []
        for entry in entries:
            arc_name = f"{arc_dir}/{entry.name}"
            yield arc_name, entry
            if entry.is_dir(follow_symlinks=False):
                below.append((Path(entry.path), arc_name))
        stack.extend(reversed(below))


def _archive_site(writer: TarWriter, site_dir: Path, runner: Runner, follow_files_symlink: bool,
                  members: list[Member]) -> dict[str, Any] | None:
    """Add SITE_DIR as site/; returns what was done with a symlinked files/, if there was one."""
    top = site_dir.stat()
    members.append(writer.add_dir(SITE, top.st_mode, top.st_mtime))
    files_link: dict[str, Any] | None = None
    roots: list[tuple[Path, str]] = [(site_dir, SITE)]
    files = site_dir / "files"
    if files.is_symlink():
        target = os.readlink(files)
        files_link = {"path": f"{SITE}/files", "target": target, "followed": follow_files_symlink}
        if follow_files_symlink:
            if not files.is_dir():
                raise ProvisionError(f"{files} is a symlink to {target}, which is not a directory.")
            roots.append((files, f"{SITE}/files"))
    for root, arc_root in roots:
        if arc_root != SITE:
            info = root.stat()  # the directory the link points to, archived as site/files
            members.append(writer.add_dir(arc_root, info.st_mode, info.st_mtime))
        for arc_name, entry in _walk(root, arc_root):
            runner.check_stop()
            st = entry.stat(follow_symlinks=False)
            if arc_name == f"{SITE}/files" and files_link is not None:
                if not follow_files_symlink:
                    members.append(writer.add_symlink(arc_name, files_link["target"], st.st_mtime))
                continue  # followed: archived from its own root above
            if stat.S_ISLNK(st.st_mode):
                members.append(writer.add_symlink(arc_name, os.readlink(entry.path), st.st_mtime))
            elif stat.S_ISDIR(st.st_mode):
                members.append(writer.add_dir(arc_name, st.st_mode, st.st_mtime))
            elif stat.S_ISREG(st.st_mode):
                try:
                    source = open(entry.path, "rb", buffering=0)
                except FileNotFoundError:
                    continue  # deleted since the directory was listed: not part of the site now
                with source:
                    size = os.fstat(source.fileno()).st_size
                    members.append(writer.add_file(arc_name, source, size, st.st_mode, st.st_mtime))
            else:
                runner.log("warning", f"Skipped {entry.path}: sockets, pipes and devices are not backed up.")
    return files_link


def _manifest(domain: str, when: dt.datetime, members: list[Member], files_link: dict[str, Any] | None,
              db_driver: DatabaseDriver | None, db_name: str | None, platform_name: str,
              platform_path: str, drupal_version: str) -> dict[str, Any]:
    files = [m for m in members if m.type == "file"]
    database = next((m for m in members if m.path == DATABASE), None)
    return {
        "format": FORMAT,
        "kind": "harbormaster-site-backup",
        "domain": normalise_domain(domain),
        "created": when.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "platform": {"name": platform_name, "path": platform_path},
        "drupal_version": drupal_version,
        "database": None if database is None or db_driver is None else {
            "engine": db_driver.server.engine, "name": db_name, "member": DATABASE,
            "size": database.size, "sha256": database.sha256},
        "files_symlink": files_link,
        "members": [m.as_json() for m in members],
        "totals": {
            "files": len(files),
            "dirs": sum(1 for m in members if m.type == "dir"),
            "symlinks": sum(1 for m in members if m.type == "symlink"),
            "bytes": sum(m.size for m in files),
        },
    }
