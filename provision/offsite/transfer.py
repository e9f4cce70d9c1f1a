"""Copying a site's backup store to a remote and back.

On the remote a site's store is `<remote folder>/<server>/<domain>/`, laid out as locally:
archives (`<domain>-<UTC>.tar.zst`), `objects/packs/<name>.pack|.idx` and loose objects. Every one
of those files is immutable under its name (an object is named by its sha256, a pack by a random
name and never written again: garbage collection writes a new pack), so replication copies the
names the remote lacks and never re-reads what it has. The mutable files (`objects/index.json`,
`damaged.json`, the lock, temporary `.` names) stay local: they describe this disk.

Order makes a remote usable at every moment: data first (packs, loose objects), then what names
it (a pack's .idx, the archives). An interrupted run leaves at most data nothing names yet.
Nothing is ever deleted on the remote here."""
from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from provision.backup import packs
from provision.backup import store as objects
from provision.backup.reader import Reader
from provision.errors import ProvisionError

if TYPE_CHECKING:
    from provision.offsite.remote import Session
    from provision.runner import Runner

ARCHIVE = ".tar.zst"
_MISSING_DIR = 3  # rclone's exit code for "directory not found"


@dataclass
class Replicated:
    files: int = 0            # files copied this run
    bytes: int = 0            # their bytes
    archives: set[str] = field(default_factory=set)  # archive names the remote holds now


def _rel(path: Path, top: Path) -> str:
    return path.relative_to(top).as_posix()


def local_files(site_dir: Path, archives: set[str] | None) -> tuple[dict[str, int], dict[str, int]]:
    """(data, names): the immutable files of the store at SITE_DIR by relative path and size.
    A pack counts only once its .idx is written (before that it is a backup's work in progress).
    ARCHIVES: only these archive names (None: all)."""
    data: dict[str, int] = {}
    names: dict[str, int] = {}
    store = objects.store_of(site_dir)
    folder = packs.folder_of(store)
    if folder.is_dir():
        for idx in folder.glob("*.idx"):
            pack = idx.with_suffix(".pack")
            if idx.name.startswith(".") or not pack.is_file():
                continue
            data[_rel(pack, site_dir)] = pack.stat().st_size
            names[_rel(idx, site_dir)] = idx.stat().st_size
    for entry in objects._loose_entries(store):
        if not entry.name.startswith("."):
            data[f"{objects.OBJECTS}/{Path(entry.path).parent.name}/{entry.name}"] = entry.stat().st_size
    for archive in site_dir.glob(f"*{ARCHIVE}"):
        if not archive.name.startswith(".") and (archives is None or archive.name in archives):
            names[archive.name] = archive.stat().st_size
    return data, names


def remote_files(session: Session, remote_dir: str, runner: Runner, *, depth: int = 0) -> dict[str, int]:
    """Every file below REMOTE_DIR with its size ({} when the folder does not exist yet)."""
    listing = os.path.join(session.directory, f"list-{os.urandom(4).hex()}")
    flags: tuple[str, ...] = ("-R", "--files-only", "--format", "sp", "--separator", "\t")
    if depth:
        flags += ("--max-depth", str(depth))
    with open(listing, "wb") as out:
        code = runner.run(session.argv("lsf", remote_dir, flags=flags), stdout=out, check=False, quiet=True)
    if code == _MISSING_DIR:
        return {}
    if code != 0:
        raise ProvisionError(f"rclone could not list {session.remote.name}:{remote_dir.split(':', 1)[-1]} "
                             f"(exit code {code}); see the log above.")
    found: dict[str, int] = {}
    with open(listing, encoding="utf-8", errors="replace") as handle:
        for line in handle:
            size, _, name = line.rstrip("\n").partition("\t")
            if name and size.isdigit():
                found[name] = int(size)
    os.unlink(listing)
    return found


def _copy(session: Session, source: str, dest: str, names: Iterable[str], runner: Runner) -> None:
    names = sorted(names)
    if not names:
        return
    listed = os.path.join(session.directory, f"files-{os.urandom(4).hex()}")
    with open(listed, "w", encoding="utf-8") as handle:
        handle.write("".join(f"{n}\n" for n in names))
    # --size-only: these names are immutable, so a same-size file is the same file and nothing
    # is hashed (SFTP would need a shell on the far side, S3's multipart ETags are no MD5); a
    # different size is a partial upload from an interrupted run, and is copied again.
    # --no-traverse: the list says what to copy; rclone looks only at those names.
    runner.run(session.argv("copy", source, dest, flags=("--files-from", listed, "--size-only", "--no-traverse",
                                                         "--transfers", "4", "--checkers", "8")), quiet=True)
    os.unlink(listed)


def replicate_dir(session: Session, site_dir: Path, server: str, domain: str, runner: Runner,
                  archives: set[str] | None = None) -> Replicated:
    """Copy what the remote lacks of the store at SITE_DIR (only the archives named in ARCHIVES
    when given) to `<server>/<domain>/` on the session's remote."""
    dest = session.remote.under(server, domain)
    data, names = local_files(site_dir, archives)
    there = remote_files(session, dest, runner)
    done = Replicated()
    for group in (data, names):
        wanted = [name for name, size in group.items() if there.get(name) != size]
        _copy(session, str(site_dir), dest, wanted, runner)
        done.files += len(wanted)
        done.bytes += sum(group[n] for n in wanted)
        runner.check_stop()
    done.archives = {n for n in [*there, *names] if "/" not in n and n.endswith(ARCHIVE)}
    return done


def listing(session: Session, server: str, runner: Runner) -> dict[str, dict[str, int]]:
    """The archives the remote holds for SERVER: {domain: {archive name: size}}."""
    found: dict[str, dict[str, int]] = {}
    for name, size in remote_files(session, session.remote.under(server), runner, depth=2).items():
        domain, _, archive = name.partition("/")
        if archive.endswith(ARCHIVE) and "/" not in archive:
            found.setdefault(domain, {})[archive] = size
    return found


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def fetch_backup(session: Session, server: str, domain: str, site_dir: Path, archive: str, sha256: str,
                 runner: Runner) -> Path:
    """Bring the backup ARCHIVE (whose sha256 the control database recorded) back from the remote
    into the store at SITE_DIR, with the objects it names that the store lacks; returns its path.

    The remote is not trusted more than a disk: the archive must have the recorded sha256, and
    every fetched object is read and hashed before the store takes it; a fetched pack's .idx is
    written again naming only the objects checked, so nothing unchecked ever counts as present."""
    if "/" in archive or not archive.endswith(ARCHIVE) or archive.startswith("."):
        raise ProvisionError(f"{archive[:80]!r} is not an archive name.")
    source = session.remote.under(server, domain)
    site_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".fetch-", dir=site_dir))
    try:
        runner.log("info", f"Fetching {archive} from the remote {session.remote.name}.")
        _copy(session, source, str(staging), [archive], runner)
        fetched = staging / archive
        if not fetched.is_file():
            raise ProvisionError(f"The remote {session.remote.name} has no {archive}.")
        if sha256 and _sha256(fetched) != sha256:
            raise ProvisionError(f"{archive} on the remote {session.remote.name} is not the backup that was made "
                                 "(its sha256 differs from the recorded one); it is not used.")
        store = objects.store_of(site_dir)
        missing = objects.references(fetched) - (objects.present(store) if store.is_dir() else set())
        checked: dict[Path, dict[str, list[int]]] = {}
        loose: list[str] = []
        if missing:
            checked, loose = _fetch_objects(session, source, staging, missing, runner)
        with objects.locked(store, runner=runner):
            _install(staging, store, checked, loose)
            os.replace(fetched, site_dir / archive)
        runner.log("info", f"Fetched {archive} and {len(missing)} objects from the remote {session.remote.name}.")
        return site_dir / archive
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def _fetch_objects(session: Session, source: str, staging: Path, missing: set[str],
                   runner: Runner) -> tuple[dict[Path, dict[str, list[int]]], list[str]]:
    there = remote_files(session, f"{source}/{objects.OBJECTS}", runner)
    prefix = f"{objects.OBJECTS}/"
    loose = [f"{prefix}{sha[:2]}/{sha}" for sha in missing if f"{sha[:2]}/{sha}" in there]
    idxs = [prefix + n for n in there if n.startswith(f"{packs.PACKS}/") and n.endswith(".idx")
            and "/" not in n[len(packs.PACKS) + 1:] and not n.rsplit("/", 1)[-1].startswith(".")]
    _copy(session, source, str(staging), idxs, runner)
    folder = packs.folder_of(objects.store_of(staging))
    wanted: dict[Path, dict[str, list[int]]] = {}
    left = set(missing) - {n.rsplit("/", 1)[-1] for n in loose}
    for idx in sorted(folder.glob("*.idx")) if folder.is_dir() else []:
        try:
            listed = packs.read_index(idx)
        except (OSError, ValueError, ProvisionError):
            idx.unlink()
            continue
        useful = {sha: place for sha, place in listed.items() if sha in left}
        if useful:
            wanted[idx.with_suffix(".pack")] = useful
            left -= set(useful)
        idx.unlink()  # written again below with the checked objects only
    if left:
        raise ProvisionError(f"{len(left)} objects the backup names are on neither the local store nor the "
                             f"remote {session.remote.name} (one: {min(left)}).")
    _copy(session, source, str(staging), [_rel(p, staging) for p in wanted] + loose, runner)
    checked: dict[Path, dict[str, list[int]]] = {}
    for pack, useful in wanted.items():
        packs.write_index(pack, useful)  # for the Reader below: only what is to be checked
    with Reader(objects.store_of(staging)) as reader:
        for sha in [*(s for u in wanted.values() for s in u), *(n.rsplit("/", 1)[-1] for n in loose)]:
            reader.read(sha, runner)  # raises on a wrong or broken object: nothing is installed
    for pack, useful in wanted.items():
        checked[pack] = useful
    return checked, loose


def _install(staging: Path, store: Path, checked: dict[Path, dict[str, list[int]]], loose: list[str]) -> None:
    """Move the checked packs and loose objects into STORE: the pack first, its .idx last."""
    folder = packs.folder_of(store)
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    for pack, useful in checked.items():
        target = folder / pack.name
        if target.exists():
            # The same pack is here, but its copies of these objects were missing or marked
            # damaged: the fetched one goes in under a new name, naming only the checked objects.
            target = folder / f"{os.urandom(8).hex()}.pack"
        os.replace(pack, target)
        packs.write_index(target, useful)
    for name in loose:
        sha = name.rsplit("/", 1)[-1]
        target = objects.object_path(store, sha)
        target.parent.mkdir(mode=0o700, exist_ok=True)
        os.replace(staging / name, target)


def verify_remote_backup(session: Session, server: str, domain: str, archive: str, sha256: str, runner: Runner,
                         workdir: Path) -> dict[str, object]:
    """Read the remote copy of ARCHIVE back into an empty store under WORKDIR and re-hash all of
    it (the archive against its recorded sha256, every member against the manifest); the local
    store is not used, so what is checked is the remote's copy alone. Returns the manifest."""
    from provision.backup import verify_backup

    scratch = Path(tempfile.mkdtemp(prefix=".verify-remote-", dir=workdir))
    try:
        path = fetch_backup(session, server, domain, scratch / domain, archive, sha256, runner)
        return verify_backup(path, runner)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
