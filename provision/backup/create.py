"""Making a backup: the database dumped to a temporary file beside the archive, then one pass
over the dump and the site directory into `<domain>-<UTC>.tar.zst`, written as a hidden
`.partial` file and renamed only once complete and on disk."""
from __future__ import annotations

import datetime as dt
import errno
import functools
import json
import os
import secrets
import stat
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO, NamedTuple

from provision.backup import links
from provision.backup.archive import DATABASE, FORMAT, MANIFEST, SITE, Member, TarWriter
from provision.domains import normalise_domain
from provision.durable import fsync_dir
from provision.errors import ProvisionError

if TYPE_CHECKING:
    from provision.db.base import DatabaseDriver
    from provision.paths import Roots
    from provision.runner import Runner


@dataclass(frozen=True)
class BackupResult:
    path: Path
    size: int  # bytes of the archive file
    sha256: str  # of the archive file, for the Backup record
    manifest: dict[str, Any]
    # What the person who asked should look at: links left out, damage that could not be repaired.
    warnings: tuple[str, ...] = ()
    repaired: int = 0  # damaged objects of the store this backup stored again
    unrepaired: int = 0  # damaged objects left without a good copy


def backup_name(domain: str, when: dt.datetime) -> str:
    return f"{normalise_domain(domain)}-{when.astimezone(dt.UTC):%Y%m%dT%H%M%SZ}.tar.zst"


def create_backup(*, domain: str, site_dir: Path, dest_dir: Path, runner: Runner,
                  db_driver: DatabaseDriver | None, db_name: str | None,
                  follow_files_symlink: bool, files_link_roots: Sequence[str | os.PathLike[str]] = (),
                  platform_name: str = "", platform_path: str = "",
                  drupal_version: str = "", now: dt.datetime | None = None) -> BackupResult:
    """Back up SITE_DIR and the database DB_NAME into one archive in DEST_DIR.

    A symlinked `files/` leading into FILES_LINK_ROOTS is archived as the directory it points
    to when FOLLOW_FILES_SYMLINK, else as the link itself (its content then is not in the
    backup); one leading anywhere else is left out, as are links a restore would refuse
    (provision.backup.links; said in the result's warnings). A failed or cancelled backup
    leaves nothing behind in DEST_DIR."""
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
            files_link, skipped = _archive_site(writer, site_dir, runner, follow_files_symlink,
                                                links.allowed_roots(files_link_roots), members)
            manifest = _manifest(domain, when, members, files_link, db_driver, db_name,
                                 platform_name, platform_path, drupal_version)
            if skipped:
                manifest["skipped_links"] = skipped
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
    return BackupResult(final, size, sha256, manifest, tuple(links.warnings(files_link, skipped)))


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


class Found(NamedTuple):
    """One entry below a walked directory: its archive name, its path, its lstat, and where it
    points if it is a link (all read while its directory was open). A tuple: one per file."""

    arc_name: str
    path: str
    st: os.stat_result
    link: str = ""


def _walk(top: Path, arc_top: str, warn: Callable[[str], None]) -> Iterator[Found]:
    """The entries below TOP, depth first, sorted; symlinks are never followed. The site's owner
    can swap a directory for a link to /etc while a backup walks: each directory is opened with
    O_NOFOLLOW and must be the very directory listed (device and inode), or it is left out."""
    stack: list[tuple[str, str, tuple[int, int] | None]] = [(os.fspath(top), arc_top, None)]
    while stack:
        directory, arc_dir, expected = stack.pop()
        listed = _list(directory, expected)
        if listed is None:
            warn(f"Skipped {directory}: it was removed or replaced while the backup ran.")
            continue
        below: list[tuple[str, str, tuple[int, int] | None]] = []
        for name, st, link in listed:
            found = Found(f"{arc_dir}/{name}", os.path.join(directory, name), st, link)
            yield found
            if stat.S_ISDIR(st.st_mode):
                below.append((found.path, found.arc_name, (st.st_dev, st.st_ino)))
        stack.extend(reversed(below))


def _list(directory: str, expected: tuple[int, int] | None) -> list[tuple[str, os.stat_result, str]] | None:
    """(name, lstat, link target) of DIRECTORY's entries, sorted by name; None when it is gone
    or is not the directory EXPECTED (device, inode)."""
    try:
        fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC)
    except (FileNotFoundError, NotADirectoryError):
        return None
    except OSError as exc:
        if exc.errno == errno.ELOOP:  # a link now, where a directory was listed
            return None
        raise
    try:
        here = os.fstat(fd)
        if expected is not None and (here.st_dev, here.st_ino) != expected:
            return None
        listed = []
        with os.scandir(fd) as listing:
            for entry in listing:
                try:
                    st = entry.stat(follow_symlinks=False)
                    link = os.readlink(entry.name, dir_fd=fd) if stat.S_ISLNK(st.st_mode) else ""
                except FileNotFoundError:
                    continue  # deleted since the directory was listed: not part of the site now
                listed.append((entry.name, st, link))
    finally:
        os.close(fd)
    return sorted(listed, key=lambda item: item[0])


def _archive_site(writer: TarWriter, site_dir: Path, runner: Runner, follow_files_symlink: bool,
                  roots: Roots | None, members: list[Member]) -> tuple[dict[str, Any] | None, list[dict[str, str]]]:
    """Add SITE_DIR as site/; returns what was done with a symlinked files/, if there was one,
    and the links left out (provision.backup.links). Links are archived last, once all of them
    are known: whether one stays inside the site depends on the others."""
    from provision.backup.store import open_beneath

    top = site_dir.stat()
    members.append(writer.add_dir(SITE, top.st_mode, top.st_mtime))
    files_link = links.files_link(site_dir, follow_files_symlink, roots)
    walks: list[tuple[Path, str]] = [(site_dir, SITE)]
    if files_link is not None and files_link.real is not None:
        walks.append((files_link.real, links.FILES))
    found_links: dict[str, tuple[str, float]] = {}
    warn = functools.partial(runner.log, "warning")
    for root, arc_root in walks:
        if arc_root != SITE:
            info = root.stat()  # the directory the link points to, archived as site/files
            members.append(writer.add_dir(arc_root, info.st_mode, info.st_mtime))
        for found in _walk(root, arc_root, warn):
            runner.check_stop()
            st, arc_name = found.st, found.arc_name
            if arc_name == links.FILES and files_link is not None:
                if not files_link.followed and files_link.refused is None:
                    found_links[arc_name] = (files_link.target, st.st_mtime)
                continue  # followed: archived from its own root above
            if stat.S_ISLNK(st.st_mode):
                found_links[arc_name] = (found.link, st.st_mtime)
            elif stat.S_ISDIR(st.st_mode):
                members.append(writer.add_dir(arc_name, st.st_mode, st.st_mtime))
            elif stat.S_ISREG(st.st_mode):
                try:
                    fd = os.open(found.path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
                    here = os.fstat(fd)
                    if (here.st_dev, here.st_ino) != (st.st_dev, st.st_ino):
                        os.close(fd)  # replaced since the listing, or reached through a swapped link
                        fd = open_beneath(root, arc_name[len(arc_root) + 1:])
                        here = os.fstat(fd)
                except OSError:
                    continue  # deleted or replaced by a link since the listing: not part of the site now
                with open(fd, "rb", buffering=0) as source:
                    if stat.S_ISREG(here.st_mode):
                        members.append(writer.add_file(arc_name, source, here.st_size, st.st_mode, st.st_mtime))
            else:
                runner.log("warning", f"Skipped {found.path}: sockets, pipes and devices are not backed up.")
    external = files_link is not None and files_link.external_kept
    refused = links.refused_links({n: t for n, (t, _) in found_links.items()
                                   if not (external and n == links.FILES)}, external)
    for name, (target, mtime) in found_links.items():
        if name not in refused:
            members.append(writer.add_symlink(name, target, mtime))
    skipped = [{"path": n, "target": found_links[n][0], "reason": why} for n, why in sorted(refused.items())]
    return (files_link.as_manifest() if files_link else None), skipped


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
