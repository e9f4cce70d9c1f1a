"""Checking and restoring backups. Nothing of a site is touched until the whole archive has been
extracted beside it and matched against its manifest; the site directory is then swapped in
with renames."""
from __future__ import annotations

import os
import re
import secrets
import shutil
import stat
import tarfile
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO

from provision.backup import links
from provision.backup import store as objects
from provision.backup.archive import DATABASE, SITE, Member, check_member_name, compare, in_store, scan
from provision.backup.reader import Reader
from provision.errors import Cancelled, ProvisionError

if TYPE_CHECKING:
    from provision.db.base import DatabaseDriver
    from provision.paths import Roots
    from provision.runner import Runner

# What a restore leaves beside the site, `sites/.<domain>.<suffix>`, when it is killed: its work
# directory (tempfile.mkdtemp's eight characters of [a-z0-9_]) and the old directory swapped
# aside (eight hex digits). hosting.operations.leftovers removes them by these names.
WORK, OLD = "restore-", "old-"
WORK_SUFFIX = re.compile(re.escape(WORK) + r"[a-z0-9_]{8}")
OLD_SUFFIX = re.compile(re.escape(OLD) + r"[0-9a-f]{8}")


def verify_backup(path: str | os.PathLike[str], runner: Runner | None = None, *, site_dir: Path | None = None,
                  files_link_roots: Sequence[str | os.PathLike[str]] = ()) -> dict[str, Any]:
    """Decompress the archive at PATH as a stream, recompute every member's size and sha256
    and compare them with its manifest, and apply the link rules a restore into SITE_DIR with
    FILES_LINK_ROOTS applies (provision.backup.links): what verifies, restores. Returns the
    manifest; raises ProvisionError naming the first bad member. Every damaged object of the
    store it names is found and marked (provision.backup.damage), not only the first."""
    found, manifest = scan(os.fspath(path), runner)
    if manifest.get("format") == 2:
        found += _from_store(Path(path).parent, manifest, runner, None, keep_going=True)
    compare(found, manifest, os.fspath(path))
    check_links(found, site_dir, links.allowed_roots(files_link_roots))
    return manifest


def check_links(found: list[Member], site_dir: Path | None, roots: Roots | None) -> None:
    """Refuse an archive holding a link that a restore into SITE_DIR may not create."""
    kept = {m.path: m.target for m in found if m.type == "symlink"}
    files_target = kept.get(links.FILES)
    if files_target is not None:
        problem = links.files_link_problem(files_target, site_dir, roots)
        if problem is not None:
            raise ProvisionError(f"The archive's site/files links to {files_target[:200]!r}: {problem}; "
                                 "it is not restored.")
    external = links.files_external(files_target)
    if external:
        del kept[links.FILES]
    refused = links.refused_links(kept, external)
    if refused:
        name = min(refused)
        more = f" (and {len(refused) - 1} more)" if len(refused) > 1 else ""
        raise ProvisionError(f"The archive member {name[:200]!r} is a link to {kept[name][:200]!r}, which a restore "
                             f"may not create: {refused[name]}{more}.")


def _from_store(archive_dir: Path, manifest: dict[str, Any], runner: Runner | None,
                extractor: _Extractor | None, *, keep_going: bool = False) -> list[Member]:
    """The site members of a format-2 manifest, each file decompressed from the object store
    and hashed (and written through EXTRACTOR when restoring); dirs and links as listed. With
    KEEP_GOING, every object is read even after a damaged one (so that all are marked), and the
    first problem is raised at the end with the count."""
    problems: list[str] = []
    found: list[Member] = []
    with Reader(objects.store_of(archive_dir)) as reader:
        for entry in manifest["members"]:
            if not in_store(manifest, entry):
                continue
            try:
                found.append(_member(entry, reader, runner, extractor))
            except ProvisionError as exc:
                if not keep_going or isinstance(exc, Cancelled):
                    raise
                problems.append(str(exc))
    if problems:
        count = f" {len(problems)} files of it cannot be restored." if len(problems) > 1 else ""
        raise ProvisionError(f"{problems[0]}{count} Damaged objects are marked in the store: the next backup of the "
                             "site stores their content again if the site still has it.")
    return found


def _member(entry: dict[str, Any], reader: Reader, runner: Runner | None,
            extractor: _Extractor | None) -> Member:
    name, kind = str(entry["path"]), entry.get("type")
    check_member_name(name)
    if kind not in ("file", "dir", "symlink"):
        raise ProvisionError(f"The manifest lists {name[:200]!r} as a {kind!r}.")
    info = tarfile.TarInfo(name)
    info.mode, info.mtime = int(entry.get("mode", 0o644)), int(entry.get("mtime", 0))
    info.type = {"file": tarfile.REGTYPE, "dir": tarfile.DIRTYPE, "symlink": tarfile.SYMTYPE}[kind]
    info.linkname = str(entry.get("target", ""))
    sink = extractor.member(info) if extractor is not None else None
    if kind != "file":
        return Member(name, kind, target=info.linkname if kind == "symlink" else "")
    try:
        size, sha256 = reader.read(str(entry.get("sha256", "")), runner, sink)
    except ProvisionError as exc:
        if sink is not None:
            sink.close()
        raise ProvisionError(f"{name!r}: {exc}") from None
    if sink is not None and extractor is not None:
        extractor.finished(info, sink)
    return Member(name, "file", size=size, sha256=sha256)


class _Extractor:
    """Writes members under WORK, refusing anything that could land outside it."""

    def __init__(self, work: Path) -> None:
        self.work = work
        self.links: set[str] = set()
        self.dirs: list[tuple[str, int, int]] = []

    def _target(self, info: tarfile.TarInfo) -> Path:
        parts = info.name.split("/")
        for depth in range(1, len(parts)):
            if "/".join(parts[:depth]) in self.links:
                # A member below a symlink would be written wherever the link points.
                raise ProvisionError(f"The archive member {info.name[:200]!r} lies below a symlink.")
        target = self.work / info.name
        if not target.parent.is_dir() or target.parent.is_symlink():
            raise ProvisionError(f"The archive member {info.name[:200]!r} comes before its directory.")
        return target

    def member(self, info: tarfile.TarInfo) -> BinaryIO | None:
        target = self._target(info)
        if info.isdir():
            os.mkdir(target, 0o700)
            self.dirs.append((info.name, info.mode & 0o777, int(info.mtime)))
        elif info.issym():
            # Created in the work directory only: check_links() decides, once every link of the
            # archive is known, before anything is swapped into the site.
            os.symlink(info.linkname, target)
            self.links.add(info.name)
        else:
            # O_EXCL | O_NOFOLLOW: never write through something that is already there.
            fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
            return os.fdopen(fd, "wb")
        return None

    def finished(self, info: tarfile.TarInfo, sink: BinaryIO) -> None:
        # No set-id or sticky bits from an archive.
        os.fchmod(sink.fileno(), info.mode & 0o777)
        sink.close()
        os.utime(self.work / info.name, (info.mtime, info.mtime), follow_symlinks=False)

    def apply_dir_modes(self, top: Path) -> None:
        """Directory modes last and deepest first: a read-only directory (Drupal makes
        sites/<domain> 0555) must still take its content first."""
        for name, mode, mtime in reversed(self.dirs):
            if name == SITE or not name.startswith(SITE + "/"):
                continue
            path = top / name[len(SITE) + 1:]
            os.chmod(path, mode)
            os.utime(path, (mtime, mtime))


def restore_backup(path: str | os.PathLike[str], site_dir: Path, db_driver: DatabaseDriver | None,
                   db_name: str | None, runner: Runner, *, db_owner: str | None = None,
                   files_link_roots: Sequence[str | os.PathLike[str]] = ()) -> dict[str, Any]:
    """Restore the archive at PATH into SITE_DIR and the database DB_NAME (dropped and created
    again; given to DB_OWNER where the engine has owners). Returns the manifest.

    A `site/files` kept as a symlink is restored only if it points inside FILES_LINK_ROOTS;
    every other link must stay inside the site."""
    path = os.fspath(path)
    site_dir = Path(site_dir)
    parent = site_dir.parent
    if not parent.is_dir():
        raise ProvisionError(f"The directory {parent} for the restored site does not exist.")
    roots = links.allowed_roots(files_link_roots)
    # Beside the site, so the swap below is a rename on one file system; hidden, 0700, and so
    # not served by the web server while it holds settings.php and the dump.
    work = Path(tempfile.mkdtemp(prefix=f".{site_dir.name}.{WORK}", dir=parent))
    try:
        extractor = _Extractor(work)
        runner.log("info", f"Extracting {os.path.basename(path)}.")
        found, manifest = scan(path, runner, extractor)
        if manifest.get("files_included") is False:
            raise ProvisionError(f"{os.path.basename(path)} holds only the database (a pre-migrate backup: "
                                 "the files were moved, not changed); it cannot replace the site's files.")
        if manifest.get("format") == 2:
            found += _from_store(Path(path).parent, manifest, runner, extractor)
        compare(found, manifest, path)
        check_links(found, site_dir, roots)
        if not (work / SITE).is_dir():
            raise ProvisionError(f"The backup {path} holds no site directory.")
        extractor.apply_dir_modes(work / SITE)
        if db_driver is not None and db_name:
            _restore_database(path, manifest, work / DATABASE, db_driver, db_name, db_owner, runner)
        runner.check_stop()
        _swap(work / SITE, site_dir, next((m for n, m, _ in extractor.dirs if n == SITE), 0o755))
        runner.log("info", f"Restored {site_dir} from {os.path.basename(path)}.")
        return manifest
    except OSError as exc:
        raise ProvisionError(f"Restoring {site_dir} from {os.path.basename(path)} failed: {exc}") from None
    finally:
        remove_tree(work)


def _restore_database(path: str, manifest: dict[str, Any], dump: Path, db_driver: DatabaseDriver,
                      db_name: str, db_owner: str | None, runner: Runner) -> None:
    database = manifest.get("database")
    if not isinstance(database, dict) or not dump.is_file():
        raise ProvisionError(f"The backup {path} holds no database dump to restore.")
    if database.get("engine") != db_driver.server.engine:
        # Checked before anything is dropped: a MariaDB dump does not load into PostgreSQL.
        raise ProvisionError(f"The backup's database comes from {database.get('engine')}; it cannot "
                             f"be loaded into {db_driver.server.label}.")
    runner.log("info", f"Replacing the database {db_name}.")
    db_driver.drop_database(db_name)
    db_driver.create_database(db_name)
    if db_owner:
        db_driver.grant(db_name, db_owner)
    with open(dump, "rb") as src:
        db_driver.load(db_name, src, runner, owner=db_owner)


def _swap(new: Path, site_dir: Path, mode: int) -> None:
    """Put NEW in SITE_DIR's place: the old directory is renamed aside first and removed only
    once the new one is in, so at no moment is there no site directory to put back."""
    old = site_dir.with_name(f".{site_dir.name}.{OLD}{secrets.token_hex(4)}")
    had_old = os.path.lexists(site_dir)
    if had_old:
        os.rename(site_dir, old)
    try:
        os.rename(new, site_dir)
    except BaseException:
        if had_old:
            os.rename(old, site_dir)
        raise
    os.chmod(site_dir, mode)
    if had_old:
        remove_tree(old)


def remove_tree(path: Path) -> None:
    """rmtree that also gets through read-only directories (Drupal's 0555 site dirs)."""
    def make_writable(function: Any, name: str, exc_info: Any) -> None:
        parent = os.path.dirname(name)
        try:
            os.chmod(parent, stat.S_IMODE(os.lstat(parent).st_mode) | stat.S_IWUSR | stat.S_IXUSR)
            function(name)
        except FileNotFoundError:
            pass

    if os.path.lexists(path):
        if os.path.islink(path) or not os.path.isdir(path):
            os.unlink(path)
        else:
            shutil.rmtree(path, onerror=make_writable)
