"""Format-2 backups: the site's regular files go to the content-addressed store beside the
archives (provision.backup.store), the archive holds the manifest (first, so garbage collection
reads only the head) and the database dump.

A file whose (size, mtime_ns, inode) match the store's index is not opened: its sha256 comes
from the index. The others are read once each in a pool of threads (hashing and compressing in
one pass, as many files at a time as there are CPUs); only content not yet in the store is
compressed and written, and content that does not compress (photos, video, archives) is
written as raw zstd frames without spending compression on it (provision.backup.frames). Every
backup's manifest lists every file, so each restores on its own."""
from __future__ import annotations

import datetime as dt
import functools
import json
import os
import secrets
import stat
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

from provision.backup import damage, links, packs
from provision.backup import store as objects
from provision.backup.archive import DATABASE, MANIFEST, SITE, TarWriter, hash_stream
from provision.backup.collect import collect_pending
from provision.backup.create import BackupResult, _create_exclusive, _publish, _walk, backup_name
from provision.domains import normalise_domain
from provision.errors import ProvisionError
from provision.preflight import check_space

if TYPE_CHECKING:
    from provision.db.base import DatabaseDriver
    from provision.paths import Roots
    from provision.runner import Runner

FORMAT = 2
# A file changed within this long before the backup started may change again within the same
# mtime tick without its mtime moving: such files are stored, but not trusted from the index.
RACY_NS = 2_000_000_000
_BATCH = 16  # files per hand-over to a storing thread


class Job(NamedTuple):
    """A file to read: its place in the entries, its path, its lstat when listed (None: open it
    only through open_beneath) and the walked root it lies below."""

    position: int
    path: str
    st: os.stat_result | None
    root: Path
    relative: str


def create_incremental(*, domain: str, site_dir: Path, dest_dir: Path, runner: Runner,
                       db_driver: DatabaseDriver | None, db_name: str | None, follow_files_symlink: bool,
                       files_link_roots: Sequence[str | os.PathLike[str]] = (),
                       platform_name: str = "", platform_path: str = "", drupal_version: str = "",
                       now: dt.datetime | None = None, include_files: bool = True) -> BackupResult:
    """Back up SITE_DIR (unless not INCLUDE_FILES: database only) and DB_NAME into DEST_DIR.
    Refuses, before writing anything but the store's lock file, when the estimate does not fit.

    A files/ link is followed (FOLLOW_FILES_SYMLINK) or kept only when it leads into
    FILES_LINK_ROOTS, and links a restore would refuse are left out (provision.backup.links);
    what was left out, and damage in the store that this backup could not repair, are in the
    result's warnings."""
    when = (now or dt.datetime.now(dt.UTC)).astimezone(dt.UTC).replace(microsecond=0)
    started_ns = time.time_ns()
    name = backup_name(domain, when)
    site_dir, dest_dir = Path(site_dir), Path(dest_dir)
    if not site_dir.is_dir():
        raise ProvisionError(f"The site directory {site_dir} does not exist.")
    roots = links.allowed_roots(files_link_roots)
    store = objects.store_of(dest_dir)
    dest_dir.mkdir(parents=True, exist_ok=True)
    token = secrets.token_hex(4)
    partial = dest_dir / f".{name}.{token}.partial"
    dump = dest_dir / f".{name}.{token}.database.sql.partial"
    with objects.locked(store, runner=runner):
        try:
            index = objects.load_index(store)
            old = index["files"]
            marked = set(damage.load(store).copies)
            present = objects.present(store, repair=True)
            entries: list[dict[str, Any]] = []
            jobs: list[Job] = []
            link = _scan_site(site_dir, follow_files_symlink, roots, runner, entries, jobs, old, present) \
                if include_files else None
            needed = sum(job.st.st_size for job in jobs if job.st) + int(index.get("database_size") or 0)
            check_space(dest_dir, needed, f"The backup of {normalise_domain(domain)}")
            objects.prepare(store)
            database = _dump(db_driver, db_name, dump, runner)
            if database:
                database.update(mode=0o600, mtime=int(when.timestamp()))  # as tar writes it out (export)
            dump_stored = _store_dump(store, dump, database, present) if database else 0
            new_index, stored = _store(store, entries, jobs, present, runner, started_ns)
            stored += dump_stored
            if include_files and set(damage.load(store).copies) - marked:
                # Verify or the scrub (which take no store lock) marked damage while this backup
                # ran: the files named by those objects are read again, or this backup would name them.
                present = objects.present(store)
                stored += _store(store, entries, _named_bad(entries, present, site_dir, link), present,
                                 runner, started_ns)[1]
            skipped = _refuse_links(entries, link)  # after _store: jobs know entries by position
            files_link = link.as_manifest() if link else None
            for entry in entries:
                key = entry.pop("_key", None)
                if key is not None and entry["path"] not in new_index:
                    new_index[entry["path"]] = [*key, entry["sha256"]]
            manifest = _manifest(domain, when, database, entries, files_link, db_driver, db_name,
                                 platform_name, platform_path, drupal_version, include_files,
                                 reused=len([e for e in entries if e["type"] == "file"]) - len(jobs), stored=stored)
            if skipped:
                manifest["skipped_links"] = skipped
            size, sha256 = _write_archive(partial, manifest, when, runner)
            final = _publish(partial, dest_dir, name)
            objects.save_index(store, {"files": new_index if include_files else old,
                                       "database_size": database["size"] if database else 0})
            repaired, unrepaired = damage.settle(store)
        except OSError as exc:
            partial.unlink(missing_ok=True)
            raise ProvisionError(f"The backup of {site_dir} failed: {exc}") from None
        except BaseException:
            partial.unlink(missing_ok=True)
            raise
        finally:
            dump.unlink(missing_ok=True)
    gone = collect_pending(dest_dir)  # backups deleted while this one held the store
    if gone is not None and gone.removed:
        runner.log("info", f"Removed {gone.removed} objects ({gone.freed} bytes) that only deleted backups named.")
    totals = manifest["totals"]
    runner.log("info", f"Backup written: {final.name} ({size} bytes; {totals['files']} files, "
                       f"{totals['reused_files']} unchanged and not read, {totals['stored_bytes']} bytes "
                       "of new content stored).")
    if repaired:
        runner.log("info", f"{len(repaired)} damaged object(s) of the backup store were stored again from the "
                           "site's files: the older backups that named them are whole again.")
    warnings = [*links.warnings(files_link, skipped), *_damage_warnings(dest_dir, unrepaired, final.name)]
    return BackupResult(final, size, sha256, manifest, tuple(warnings), len(repaired), len(unrepaired))


def _named_bad(entries: list[dict[str, Any]], usable: set[str], site_dir: Path,
               files_link: links.FilesLink | None) -> list[Job]:
    """Jobs to read again the files whose object has no usable copy any more."""
    real = files_link.real if files_link is not None else None
    jobs = []
    for position, entry in enumerate(entries):
        if entry["type"] != "file" or entry["sha256"] in usable:
            continue
        relative = entry["path"][len(SITE) + 1:]
        root = site_dir
        if real is not None and entry["path"].startswith(links.FILES + "/"):
            root, relative = real, entry["path"][len(links.FILES) + 1:]
        jobs.append(Job(position, str(root / relative), None, root, relative))
    return jobs


def _damage_warnings(dest_dir: Path, unrepaired: list[str], this: str) -> list[str]:
    """What the backup THIS says about damage it could not repair: which backups it leaves
    damaged, itself first if a copy it names was found damaged after it looked (verify or the
    scrub, which take no store lock, can mark one at any moment)."""
    if not unrepaired:
        return []
    named = damage.archives_naming(dest_dir, set(unrepaired))
    found = []
    if this in named:
        named.remove(this)
        found.append("This backup names an object found damaged while it ran: it cannot be restored whole; the "
                     "next backup stores that content again.")
    if named:
        shown = ", ".join(named[:5]) + (" ..." if len(named) > 5 else "")
        found.append(f"{len(unrepaired)} object(s) of the backup store are damaged and no file of the site has "
                     f"their content any more: {len(named)} older backup(s) name them and cannot be restored "
                     f"whole: {shown}.")
    return found


def _scan_site(site_dir: Path, follow: bool, roots: Roots | None, runner: Runner, entries: list[dict[str, Any]],
               jobs: list[Job], old: dict[str, list[Any]], present: set[str]) -> links.FilesLink | None:
    """List SITE_DIR into ENTRIES (manifest order) and the files that must be read into JOBS.
    Returns what is done with a linked files/."""
    top = site_dir.stat()
    entries.append({"path": SITE, "type": "dir", "mode": top.st_mode & 0o7777, "mtime": int(top.st_mtime)})
    files_link = links.files_link(site_dir, follow, roots)
    walks: list[tuple[Path, str]] = [(site_dir, SITE)]
    if files_link is not None and files_link.real is not None:
        walks.append((files_link.real, links.FILES))
    warn = functools.partial(runner.log, "warning")
    for root, arc_root in walks:
        if arc_root != SITE:
            info = root.stat()
            entries.append({"path": arc_root, "type": "dir", "mode": info.st_mode & 0o7777,
                            "mtime": int(info.st_mtime)})
        for found in _walk(root, arc_root, warn):
            st, arc_name = found.st, found.arc_name
            if arc_name == links.FILES and files_link is not None:
                if not files_link.followed and files_link.refused is None:
                    entries.append({"path": arc_name, "type": "symlink", "target": files_link.target})
                continue
            if stat.S_ISLNK(st.st_mode):
                entries.append({"path": arc_name, "type": "symlink", "target": found.link})
            elif stat.S_ISDIR(st.st_mode):
                entries.append({"path": arc_name, "type": "dir", "mode": st.st_mode & 0o7777,
                                "mtime": int(st.st_mtime)})
            elif stat.S_ISREG(st.st_mode):
                item = {"path": arc_name, "type": "file", "size": st.st_size, "sha256": "",
                        "mode": st.st_mode & 0o7777, "mtime": int(st.st_mtime)}
                known = old.get(arc_name)
                key = [st.st_size, st.st_mtime_ns, st.st_ino]
                if known and known[:3] == key and known[3] in present:
                    item["sha256"] = known[3]  # unchanged since it was stored: not opened
                    item["_key"] = key
                else:
                    jobs.append(Job(len(entries), found.path, st, root, arc_name[len(arc_root) + 1:]))
                entries.append(item)
            else:
                runner.log("warning", f"Skipped {found.path}: sockets, pipes and devices are not backed up.")
    return files_link


def _refuse_links(entries: list[dict[str, Any]], files_link: links.FilesLink | None) -> list[dict[str, str]]:
    """Drop from ENTRIES the links a restore would refuse (provision.backup.links); returns them."""
    external = files_link is not None and files_link.external_kept
    found = {e["path"]: e["target"] for e in entries if e["type"] == "symlink"
             and not (external and e["path"] == links.FILES)}
    if not found:
        return []
    refused = links.refused_links(found, external)
    if refused:
        entries[:] = [e for e in entries if not (e["type"] == "symlink" and e["path"] in refused)]
    return [{"path": name, "target": found[name], "reason": why} for name, why in sorted(refused.items())]


def _dump(db_driver: DatabaseDriver | None, db_name: str | None, dump: Path,
          runner: Runner) -> dict[str, Any] | None:
    if db_driver is None or not db_name:
        return None
    runner.log("info", f"Dumping the database {db_name}.")
    with _create_exclusive(dump) as out:
        db_driver.dump(db_name, out, runner)
    with open(dump, "rb") as source:  # hashed first: the manifest goes before the dump
        size, sha256 = hash_stream(source, runner)
    return {"path": DATABASE, "type": "file", "size": size, "sha256": sha256}


def _store(store: Path, entries: list[dict[str, Any]], jobs: list[Job], present: set[str], runner: Runner,
           started_ns: int) -> tuple[dict[str, list[Any]], int]:
    """Read the files of JOBS in a pool of threads; fills in their sha256 and returns the new
    index entries for them and the bytes written to the store."""
    index: dict[str, list[Any]] = {}
    stored = 0
    if jobs:
        runner.log("info", f"Storing {len(jobs)} new or changed files.")
    # Batches, so that the threads hand over results (and take the GIL back) once per batch
    # instead of once per file; small enough that a cancel is seen within a few files.
    batches = [jobs[i:i + _BATCH] for i in range(0, len(jobs), _BATCH)]
    with packs.PackSet(store) as pack_set, \
            ThreadPoolExecutor(max_workers=max(2, os.cpu_count() or 2), thread_name_prefix="backup-store") as pool:
        try:
            for batch, results in zip(batches, pool.map(lambda b: [_read_one(pack_set, j, present) for j in b],
                                                        batches), strict=True):
                runner.check_stop()
                for job, result in zip(batch, results, strict=True):
                    entry = entries[job.position]
                    if result is None:
                        entry["type"] = "gone"  # deleted since the listing: not part of the site now
                        continue
                    size, sha256, written = result
                    stored += written
                    entry["size"], entry["sha256"] = size, sha256
                    st = job.st
                    if st is not None and size == st.st_size and st.st_mtime_ns < started_ns - RACY_NS:
                        index[entry["path"]] = [st.st_size, st.st_mtime_ns, st.st_ino, sha256]
        except BaseException:
            pool.shutdown(wait=True, cancel_futures=True)
            raise
    entries[:] = [e for e in entries if e["type"] != "gone"]
    return index, stored


def _read_one(pack_set: packs.PackSet, job: Job, present: set[str]) -> tuple[int, str, int] | None:
    try:
        return objects.store_file(pack_set, job.path, present, job.st, (job.root, job.relative))
    except FileNotFoundError:
        return None


def _store_dump(store: Path, dump: Path, database: dict[str, Any], present: set[str]) -> int:
    """Put the database dump into the store as an object (archive.in_store): a dump unchanged
    since an earlier backup is then neither compressed nor written again. Returns the bytes
    written."""
    if database["sha256"] in present:
        return 0
    with packs.PackSet(store) as pack_set:
        size, sha256, written = objects.store_file(pack_set, str(dump), present)
    if (size, sha256) != (database["size"], database["sha256"]):
        raise ProvisionError("The database dump changed while it was being stored.")
    return written


def _write_archive(partial: Path, manifest: dict[str, Any], when: dt.datetime, runner: Runner) -> tuple[int, str]:
    """The archive: the manifest alone (the files and the dump are objects of the store)."""
    with _create_exclusive(partial) as raw, TarWriter(raw, runner) as writer:
        writer.add_bytes(MANIFEST, json.dumps(manifest, separators=(",", ":"), sort_keys=True).encode(),
                         when.timestamp())
        size, sha256 = writer.close()
        raw.flush()
        os.fsync(raw.fileno())
    return size, sha256


def _manifest(domain: str, when: dt.datetime, database: dict[str, Any] | None, entries: list[dict[str, Any]],
              files_link: dict[str, Any] | None, db_driver: DatabaseDriver | None, db_name: str | None,
              platform_name: str, platform_path: str, drupal_version: str, include_files: bool,
              reused: int, stored: int) -> dict[str, Any]:
    files = [e for e in entries if e["type"] == "file"]
    return {
        "format": FORMAT,
        "kind": "harbormaster-site-backup",
        "domain": normalise_domain(domain),
        "created": when.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "platform": {"name": platform_name, "path": platform_path},
        "drupal_version": drupal_version,
        "store": objects.OBJECTS,
        "files_included": include_files,
        "database": None if database is None or db_driver is None else {
            "engine": db_driver.server.engine, "name": db_name, "member": DATABASE,
            "size": database["size"], "sha256": database["sha256"], "in_store": True},
        "files_symlink": files_link,
        "members": ([database] if database else []) + entries,
        "totals": {
            "files": len(files),
            "dirs": sum(1 for e in entries if e["type"] == "dir"),
            "symlinks": sum(1 for e in entries if e["type"] == "symlink"),
            "bytes": sum(e["size"] for e in files),
            "reused_files": reused,
            "stored_bytes": stored,
        },
    }
