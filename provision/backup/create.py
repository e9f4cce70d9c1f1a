"""What writing a backup needs besides the object store (provision.backup.incremental): the
result, the archive's name, the hidden `.partial` file it is written to and its publication
under its final name once complete and on disk, and the walk over the site directory that never
follows a link the site's owner swaps in."""
from __future__ import annotations

import datetime as dt
import errno
import os
import stat
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO, NamedTuple

from provision.domains import normalise_domain
from provision.durable import fsync_dir
from provision.errors import ProvisionError


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
