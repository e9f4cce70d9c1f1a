"""One backup as one standard archive that plain `tar` extracts without Harbormaster: the
archive's own members (manifest.json, database.sql; a format-1 archive holds site/ too) and, for
a format-2 backup, the site's files taken from the object store beside the archive
(provision.backup.store), as `.tar`, `.tar.zst` or `.tar.gz`.

A stream of byte chunks in constant memory, with no temporary copy of anything: a file's tar
header is written from the size its manifest gives, then its content is decompressed from the
store piece by piece, checked against the manifest's size and sha256 as it goes
(Reader.chunks). A mismatch, a damaged or missing object ends the stream early, never as a
complete archive.

The archive's member list is checked before the first byte (plan()): every name a clean path
under `site/` (or manifest.json, database.sql), no name twice, nothing below a symlink, and only
the links a restore may create (provision.backup.links; `site/files` may point outside, into
the files root, with nothing below it). So a tampered manifest can make an export neither read
outside the store (objects are named by their sha256 only) nor write outside the directory
`tar -x` runs in. Compression: the `zstandard` module in this process (level 3, one thread: a multi-threaded
compressor held 50 MiB more and was no faster on 2 loaded CPUs) or zlib (gzip level 1).

Also a command that needs no panel (README, "Disaster recovery"):
    python -m provision.backup.export BACKUP_DIR ARCHIVE -o FILE [--force]"""
from __future__ import annotations

import argparse
import hashlib
import json
import os
import secrets
import sys
import tarfile
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import zstandard

from provision.backup import links
from provision.backup import store as objects
from provision.backup.archive import DATABASE, MANIFEST, MAX_MANIFEST, SITE, check_member_name, in_store
from provision.backup.reader import Reader
from provision.errors import ProvisionError

CHUNK = 1 << 20  # bytes read at a time from an archive member or an object
OUT = 1 << 20  # bytes handed on at a time (an HTTP chunk, a write)
_BLOCK = tarfile.BLOCKSIZE
KINDS = {"file": tarfile.REGTYPE, "dir": tarfile.DIRTYPE, "symlink": tarfile.SYMTYPE}
SUFFIXES = ((".tar.zst", "zst"), (".tzst", "zst"), (".tar.gz", "gz"), (".tgz", "gz"), (".tar", "tar"))
CONTENT_TYPES = {"zst": "application/zstd", "gz": "application/gzip", "tar": "application/x-tar"}
EXTENSIONS = {"zst": ".tar.zst", "gz": ".tar.gz", "tar": ".tar"}


def compression_of(name: str) -> str:
    """"zst", "gz" or "tar", from a file name's ending (ProvisionError for any other)."""
    for suffix, kind in SUFFIXES:
        if name.lower().endswith(suffix):
            return kind
    raise ProvisionError(f"{name[:200]!r} does not end in .tar.zst, .tar.gz or .tar: say which archive to write.")


@dataclass
class Entry:
    name: str
    kind: str
    mode: int = 0o644
    mtime: int = 0
    size: int = 0
    target: str = ""
    sha256: str = ""


@dataclass
class Plan:
    """What an export writes: the archive's format and manifest, and the members checked."""

    format: int
    manifest: dict[str, Any] | None
    archive_members: list[Entry] = field(default_factory=list)  # in the archive file, in order
    store_members: list[Entry] = field(default_factory=list)  # from the object store (format 2)
    dump: Entry | None = None  # the database dump in the archive, as the manifest lists it (format 2)


def _int(value: Any, what: str, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ProvisionError(f"The manifest gives {name[:200]!r} a {what} that is not a number: {str(value)[:50]!r}.")
    return value


def _entry(raw: Any) -> Entry:
    if not isinstance(raw, dict):
        raise ProvisionError("The manifest lists a member that is not an object.")
    name, kind = str(raw.get("path", "")), raw.get("type")
    if kind not in KINDS:
        raise ProvisionError(f"The manifest lists {name[:200]!r} as a {str(kind)[:50]!r}.")
    mode = 0o600 if name == DATABASE else 0o644  # a dump listed without one: private, as in the archive
    entry = Entry(name, kind, mode=_int(raw.get("mode", mode), "mode", name) & 0o777,
                  mtime=_int(raw.get("mtime", 0), "time", name))
    if kind == "file":
        entry.size = _int(raw.get("size"), "size", name)
        entry.sha256 = str(raw.get("sha256", ""))
        objects.object_path(Path("/"), entry.sha256)  # a sha256 name, never a path
    elif kind == "symlink":
        entry.target = str(raw.get("target", ""))
    return entry


def check_members(entries: list[Entry]) -> None:
    """Refuse a member list that would make `tar -x` write outside its directory: unclean
    names, a name twice, a member below a symlink, a link a restore would not create."""
    seen: set[str] = set()
    kept: dict[str, str] = {}
    for entry in entries:
        check_member_name(entry.name)
        if entry.name in seen:
            raise ProvisionError(f"The backup lists {entry.name[:200]!r} twice.")
        seen.add(entry.name)
        parts = entry.name.split("/")
        for depth in range(1, len(parts)):
            if "/".join(parts[:depth]) in kept:
                raise ProvisionError(f"The backup member {entry.name[:200]!r} lies below a symlink.")
        if entry.kind == "symlink":
            kept[entry.name] = entry.target
    files_target = kept.get(links.FILES)
    external = links.files_external(files_target)
    if external:
        del kept[links.FILES]
        if not str(files_target).startswith("/"):
            raise ProvisionError(f"The backup's site/files links to {str(files_target)[:200]!r}, out of the site.")
    refused = links.refused_links(kept, external)
    if refused:
        name = min(refused)
        raise ProvisionError(f"The backup member {name[:200]!r} is a link to {kept[name][:200]!r}, which an export "
                             f"does not write: {refused[name]}.")


def _archive_entries(archive: Path) -> Iterator[tuple[Entry, tarfile.TarInfo, tarfile.TarFile]]:
    with open(archive, "rb") as raw:
        reader = zstandard.ZstdDecompressor().stream_reader(raw, read_size=CHUNK)
        with tarfile.open(fileobj=reader, mode="r|", bufsize=64 << 10) as tar:
            for info in tar:
                check_member_name(info.name)
                kind = "file" if info.isreg() else "dir" if info.isdir() else "symlink" if info.issym() else ""
                if not kind:
                    raise ProvisionError(f"The archive member {info.name[:200]!r} is a link, device or other "
                                         "special file.")
                yield Entry(info.name, kind, mode=info.mode & 0o777, mtime=max(int(info.mtime), 0),
                            size=info.size if kind == "file" else 0, target=info.linkname), info, tar


def plan(archive: Path) -> Plan:
    """Read and check what an export of ARCHIVE writes, before it writes anything. A format-2
    archive is read only up to its manifest (its first member); a format-1 archive is listed."""
    try:
        found: list[Entry] = []
        manifest: dict[str, Any] | None = None
        for entry, info, tar in _archive_entries(archive):
            if not found and entry.name == MANIFEST and entry.kind == "file":
                source = tar.extractfile(info)
                assert source is not None
                data = source.read(MAX_MANIFEST + 1)
                parsed = json.loads(data) if len(data) <= MAX_MANIFEST else None
                if not isinstance(parsed, dict) or not isinstance(parsed.get("members"), list):
                    raise ProvisionError("Its manifest.json is not a Harbormaster manifest.")
                manifest = parsed
                if manifest.get("format") == 2:
                    listed = [_entry(raw) for raw in manifest["members"]]
                    check_members(listed)
                    if any(e.name != DATABASE or e.kind != "file" for e in listed
                           if not (e.name == SITE or e.name.startswith(SITE + "/"))):
                        raise ProvisionError("Its manifest lists members outside site/ other than the database dump.")
                    dump = next((e for e in listed if e.name == DATABASE), None)
                    dump_in_store = in_store(manifest, {"path": DATABASE})
                    store = [e for e in listed if e.name != DATABASE or dump_in_store]
                    return Plan(2, manifest, store_members=store, dump=None if dump_in_store else dump)
            found.append(entry)
        check_members(found)
        return Plan(1, manifest, archive_members=found)
    except (OSError, ValueError, EOFError, tarfile.TarError, zstandard.ZstdError) as exc:
        raise ProvisionError(f"The backup {archive.name} cannot be read: {exc}") from None


def _header(entry: Entry) -> bytes:
    """A clean header: nothing of the source archive's headers (owners, pax records) is copied."""
    info = tarfile.TarInfo(entry.name)
    info.type, info.mode, info.mtime = KINDS[entry.kind], entry.mode, entry.mtime
    info.size = entry.size if entry.kind == "file" else 0
    info.linkname = entry.target if entry.kind == "symlink" else ""
    return info.tobuf(format=tarfile.PAX_FORMAT, encoding="utf-8", errors="strict")


def _padded(chunks: Iterator[bytes], size: int, name: str) -> Iterator[bytes]:
    got = 0
    for chunk in chunks:
        got += len(chunk)
        if got > size:
            break
        yield chunk
    if got != size:
        raise ProvisionError(f"The backup member {name[:200]!r} is not the {size} bytes it should be.")
    if size % _BLOCK:
        yield b"\0" * (_BLOCK - size % _BLOCK)


def _read(handle: IO[bytes], size: int) -> Iterator[bytes]:
    left = size
    while left > 0 and (chunk := handle.read(min(CHUNK, left))):
        left -= len(chunk)
        yield chunk


def _checked(chunks: Iterator[bytes], sha256: str) -> Iterator[bytes]:
    digest = hashlib.sha256()
    for chunk in chunks:
        digest.update(chunk)
        yield chunk
    if digest.hexdigest() != sha256:
        raise ProvisionError(f"The database dump's content has sha256 {digest.hexdigest()}, not {sha256[:64]!r}.")


def _tar(archive: Path, chosen: Plan) -> Iterator[bytes]:
    expected = iter(chosen.archive_members)
    seen: set[str] = set()
    for entry, info, tar in _archive_entries(archive):
        if chosen.format == 2:
            if entry.name not in (MANIFEST, DATABASE) or entry.kind != "file" or entry.name in seen or (
                    entry.name == DATABASE and chosen.dump is None):
                raise ProvisionError(f"The backup holds {entry.name[:200]!r} beside its manifest.")
            seen.add(entry.name)
        elif next(expected, None) != entry:
            raise ProvisionError(f"The backup {archive.name} changed while it was exported.")
        dump = chosen.dump if entry.name == DATABASE else None
        if dump is not None and entry.size != dump.size:
            raise ProvisionError(f"The database dump is {entry.size} bytes, but the manifest says {dump.size}.")
        yield _header(entry)
        if entry.kind == "file":
            source = tar.extractfile(info)
            assert source is not None
            content = _read(source, entry.size)
            yield from _padded(_checked(content, dump.sha256) if dump else content, entry.size, entry.name)
    if chosen.dump is not None and DATABASE not in seen:
        raise ProvisionError(f"The backup {archive.name} lists a database dump that it does not hold.")
    if chosen.store_members:
        with Reader(objects.store_of(archive.parent)) as reader:
            for entry in chosen.store_members:
                yield _header(entry)
                if entry.kind == "file":
                    yield from _padded(reader.chunks(entry.sha256, entry.size, CHUNK), entry.size, entry.name)
    yield b"\0" * (2 * _BLOCK)


def _compressed(chunks: Iterator[bytes], compression: str, threads: int) -> Iterator[bytes]:
    """CHUNKS compressed, handed on OUT bytes or more at a time."""
    compress: Callable[[bytes], bytes]
    finish: Callable[[], bytes]
    if compression == "zst":
        zobj = zstandard.ZstdCompressor(level=3, threads=threads).compressobj()
        compress, finish = zobj.compress, lambda: zobj.flush(zstandard.COMPRESSOBJ_FLUSH_FINISH)
    elif compression == "gz":
        gobj = zlib.compressobj(1, zlib.DEFLATED, 31)
        compress, finish = gobj.compress, gobj.flush
    else:
        compress, finish = bytes, bytes
    pending: list[bytes] = []
    size = 0
    for chunk in chunks:
        if out := compress(chunk):
            pending.append(out)
            size += len(out)
            if size >= OUT:
                yield b"".join(pending)
                pending.clear()
                size = 0
    pending.append(finish())
    yield b"".join(pending)


def export_stream(archive: Path, compression: str = "zst", *, threads: int = 0) -> Iterator[bytes]:
    """The chunks of the standard archive of the backup ARCHIVE, compressed with COMPRESSION
    ("zst", "gz", "tar": none; THREADS for zstd, -1: one per CPU). Checked first: a backup that
    cannot be exported raises ProvisionError here, before any chunk."""
    archive = Path(archive)
    if compression not in CONTENT_TYPES:
        raise ProvisionError(f"No archive kind {compression!r}.")
    return _compressed(_tar(archive, plan(archive)), compression, threads)


def export_tar(archive: Path) -> Iterator[bytes]:
    """The backup ARCHIVE as one uncompressed tar (export_stream)."""
    return export_stream(archive, "tar")


def write_export(chunks: Iterator[bytes], target: str, *, force: bool = False) -> int:
    """Write CHUNKS to the file TARGET ("-": standard output), under a temporary name renamed
    into place once complete, so that a failed export never leaves a file that looks whole.
    Returns the bytes written."""
    written = 0
    if target == "-":
        out = sys.stdout.buffer
        for chunk in chunks:
            out.write(chunk)
            written += len(chunk)
        out.flush()
        return written
    path = Path(target)
    if path.exists() and not force:
        raise ProvisionError(f"{path} exists; give --force to overwrite it.")
    partial = path.with_name(f".{path.name}.{secrets.token_hex(4)}.partial")
    try:
        with os.fdopen(os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), "wb") as out:
            for chunk in chunks:
                out.write(chunk)
                written += len(chunk)
            out.flush()
            os.fsync(out.fileno())
        if force:
            os.replace(partial, path)
        else:
            os.link(partial, path)  # fails, like O_EXCL, if PATH appeared meanwhile
    except FileExistsError:
        raise ProvisionError(f"{path} exists; give --force to overwrite it.") from None
    except OSError as exc:
        raise ProvisionError(f"Cannot write {path}: {exc}.") from None
    finally:
        partial.unlink(missing_ok=True)
    return written


def archive_in(backup_dir: Path, name: str) -> Path:
    """The backup archive NAME (a file name, or a path to it) inside BACKUP_DIR, refusing
    anything else: a link, a hidden or partial file, a path that leaves the directory."""
    folder = Path(backup_dir).resolve()
    base = os.path.basename(name)
    if not base.endswith(".tar.zst") or base.startswith(".") or "\x00" in name:
        raise ProvisionError(f"{name[:200]!r} is not a backup archive (<domain>-<time>.tar.zst).")
    if "/" in name and Path(name).resolve().parent != folder:
        raise ProvisionError(f"{name[:200]!r} is not in {folder}.")
    path = folder / base
    if not path.is_file() or path.is_symlink():
        raise ProvisionError(f"There is no backup archive {base} in {folder}.")
    return path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m provision.backup.export",
        description="Write one backup as a standard archive (.tar.zst, .tar.gz or .tar) that plain tar extracts: "
                    "site/ (settings.php and files) and database.sql. Needs no panel and no database.")
    parser.add_argument("backup_dir", metavar="BACKUP_DIR",
                        help="The site's backup directory: <backups root>/<domain>.")
    parser.add_argument("archive", metavar="ARCHIVE", help="The backup's archive: <domain>-<time>.tar.zst in it.")
    parser.add_argument("-o", "--output", required=True, metavar="FILE",
                        help="Where to write; its name chooses the compression (- : .tar.zst to standard output).")
    parser.add_argument("--force", action="store_true", help="Overwrite FILE if it exists.")
    options = parser.parse_args(argv)
    try:
        archive = archive_in(Path(options.backup_dir), options.archive)
        compression = "zst" if options.output == "-" else compression_of(options.output)
        size = write_export(export_stream(archive, compression), options.output, force=options.force)
    except ProvisionError as exc:
        print(f"export: {exc}", file=sys.stderr)
        return 1
    if options.output != "-":
        print(f"{archive.name}: {size} bytes written to {options.output}.", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
