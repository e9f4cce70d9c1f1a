"""A site's directory, `sites/<domain>/` inside a platform's docroot: create it with its files
directories and settings.php, move it (migrate within one filesystem), copy it (clone, with
copy-on-write where the filesystem offers it), measure and remove it."""
from __future__ import annotations

import os
import re
import shutil
import stat
from pathlib import Path

from provision.errors import ProvisionError
from provision.paths import Roots, site_dir
from provision.runner import Runner
from provision.settings_php import DatabaseSettings, render_settings_php, trusted_host_pattern, write_settings_php

SITE_MODE = 0o755
FILES_MODE = 0o2775
OUR_HEADER = "Written by Harbormaster"
# The hash salt as render_settings_php writes it (8+: $settings, 7: $drupal_hash_salt): a
# literal single-quoted string. Kept across rewrites: a new salt logs every user out.
_SALT = re.compile(r"""^\s*(?:\$settings\[['"]hash_salt['"]\]|\$drupal_hash_salt)\s*=\s*'((?:[^'\\]|\\.)*)'\s*;""",
                   re.M)


def locate(roots: Roots, docroot: Path, domain: str) -> Path:
    """sites/<domain> of DOCROOT, checked to be inside the roots."""
    return roots.inside(site_dir(docroot, domain))


def create(path: Path, *, aliases: list[str], domain: str, db: DatabaseSettings, drupal: int,
           hash_salt: str) -> None:
    """Create sites/<domain>/ with files/, private/ and settings.php. Refuses an existing one."""
    make_dir(path)
    populate(path, aliases=aliases, domain=domain, db=db, drupal=drupal, hash_salt=hash_salt)


def make_dir(path: Path) -> None:
    """Create the (empty) site directory; an existing one is never taken over."""
    try:
        path.mkdir(mode=SITE_MODE)
    except FileExistsError:
        raise ProvisionError(f"{path} exists already: refusing to overwrite another site's files.") from None
    except OSError as exc:
        raise ProvisionError(f"Could not create {path}: {exc.strerror}.") from None


def populate(path: Path, *, aliases: list[str], domain: str, db: DatabaseSettings, drupal: int,
             hash_salt: str) -> None:
    """The files directories and settings.php of a new site directory."""
    populate_dirs(path)
    write_settings(path, aliases=aliases, domain=domain, db=db, drupal=drupal, hash_salt=hash_salt)


FILES_DIRS = ("files", "private", "private/tmp")
_DIR = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC


def populate_dirs(path: Path) -> None:
    """files/, private/ and private/tmp/, group-writable for the web server's group."""
    _, refused = make_dirs(path, FILES_DIRS, chmod_existing=True)
    if refused:
        raise ProvisionError(f"Could not create the files directories of {path}: {'; '.join(refused)}.")


def make_dirs(path: Path, subs: tuple[str, ...], *, chmod_existing: bool = False) -> tuple[list[str], list[str]]:
    """Create the missing directories SUBS ('/'-separated, relative) under the site directory
    PATH, with FILES_MODE (mkdir's mode is cut by the umask, so it is set on the descriptor).
    One component at a time, through directory descriptors opened without following links: a
    component that a client made (or swaps in, at any moment) a link to another site or to /etc
    is neither created in nor walked through. Returns (created, refused with the reason)."""
    created: list[str] = []
    refused: list[str] = []
    root = os.open(path, _DIR)
    try:
        for sub in subs:
            here = os.dup(root)
            try:
                made = False
                for part in sub.split("/"):
                    try:
                        os.mkdir(part, FILES_MODE, dir_fd=here)
                        made = True
                    except FileExistsError:
                        made = False
                    try:
                        child = os.open(part, _DIR, dir_fd=here)
                    except OSError as exc:  # ELOOP: a link; ENOTDIR: not a directory
                        refused.append(f"{sub}: {part} is not a directory of the site ({exc.strerror})")
                        break
                    os.close(here)
                    here = child
                    if made or chmod_existing:
                        os.fchmod(here, FILES_MODE)
                else:
                    if made:
                        created.append(sub)
            finally:
                os.close(here)
    finally:
        os.close(root)
    return created, refused


def tighten_settings(path: Path) -> bool:
    """Make PATH/settings.php read-only if group or others may write it. Opened without
    following a link (the mode to tighten would be another file's) nor blocking on a FIFO, and
    changed through that descriptor: a file swapped for a link after a check is never touched."""
    try:
        fd = os.open(path / "settings.php", os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError:
        return False  # missing, a link, unreadable: check() reports it
    try:
        mode = os.fstat(fd).st_mode
        if not stat.S_ISREG(mode) or not mode & 0o022:
            return False
        os.fchmod(fd, 0o440)
        return True
    finally:
        os.close(fd)


def write_settings(path: Path, *, aliases: list[str], domain: str, db: DatabaseSettings, drupal: int,
                   hash_salt: str) -> None:
    rel = f"sites/{domain}"
    content = render_settings_php(
        db, hash_salt=hash_salt, drupal=drupal, file_public_path=f"{rel}/files",
        file_private_path=f"{rel}/private", file_temp_path=f"{rel}/private/tmp",
        config_sync_directory=None if drupal == 7 else f"{rel}/private/config/sync",
        trusted_host_patterns=[trusted_host_pattern(d) for d in [domain, *aliases]],
    )
    # write_settings_php replaces the file (a link too, never what it points to): a read-only
    # settings.php needs no chmod for that, and a chmod would follow a link out of the site.
    write_settings_php(path / "settings.php", content)


def is_ours(path: Path) -> bool:
    """Whether PATH/settings.php was written by us (and so may be rewritten whole)."""
    try:
        with open(path / "settings.php", "rb") as handle:
            return OUR_HEADER.encode() in handle.read(4096)
    except OSError:
        return False


def read_hash_salt(path: Path) -> str | None:
    """The literal hash salt of PATH/settings.php, or None. A settings.php that is a link, not
    a regular file or too big is not read: its salt could be another site's."""
    from provision.settings_php import MAX_SETTINGS_SIZE

    try:
        fd = os.open(path / "settings.php", os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError:
        return None
    with os.fdopen(fd, "rb") as handle:
        if not stat.S_ISREG(os.fstat(handle.fileno()).st_mode):
            return None
        text = handle.read(MAX_SETTINGS_SIZE).decode("utf-8", errors="replace")
    match = _SALT.search(text)
    return re.sub(r"\\([\\'])", r"\1", match.group(1)) if match else None


def check(path: Path) -> list[str]:
    """Problems with a site directory, in words; empty when all is well."""
    problems = []
    if not path.is_dir():
        return [f"{path} does not exist"]
    if (path / "settings.php").is_symlink():
        problems.append("settings.php is a symbolic link")
    elif not (path / "settings.php").is_file():
        problems.append("settings.php is missing")
    elif (path / "settings.php").stat().st_mode & stat.S_IWOTH:
        problems.append("settings.php is writable by everyone")
    files = path / "files"
    if not files.exists():
        problems.append("files/ is missing")
    elif not os.access(files, os.W_OK):
        problems.append("files/ is not writable")
    return problems


def repair(path: Path) -> list[str]:
    """Repair what is safe to repair: missing files directories, loose settings.php modes."""
    created, _refused = make_dirs(path, FILES_DIRS)  # a link in the way is check()'s to report
    done = [f"created {sub}/" for sub in created]
    if tighten_settings(path):
        done.append("settings.php made read-only")
    return done


def move(src: Path, dst: Path) -> None:
    """Move a site directory. Within one filesystem this is a rename: its time does not grow
    with the size of files/. Across filesystems it copies then removes."""
    if dst.exists() or dst.is_symlink():
        raise ProvisionError(f"{dst} exists already: refusing to move a site over it.")
    try:
        os.rename(src, dst)
    except OSError as exc:
        if exc.errno != 18:  # EXDEV: another filesystem
            raise ProvisionError(f"Could not move {src} to {dst}: {exc.strerror}.") from None
        shutil.copytree(src, dst, symlinks=True)
        shutil.rmtree(src)


def copy(runner: Runner, src: Path, dst: Path) -> None:
    """Copy a site directory with `cp -a --reflink=auto`: copy-on-write clones where the
    filesystem supports them (btrfs, xfs), a plain copy as fast as `cp -a` elsewhere."""
    if dst.exists() or dst.is_symlink():
        raise ProvisionError(f"{dst} exists already: refusing to copy a site over it.")
    runner.run(["cp", "-a", "--reflink=auto", "--", str(src), str(dst)])


def remove(path: Path) -> None:
    if path.is_symlink():
        path.unlink()
        return
    if not path.exists():
        return

    def writable(func, failed, exc_info) -> None:  # settings.php and its directory may be read-only
        os.chmod(os.path.dirname(failed), 0o755)
        if os.path.exists(failed) and not os.path.islink(failed):
            os.chmod(failed, 0o644)
        func(failed)

    try:
        shutil.rmtree(path, onerror=writable)
    except OSError as exc:
        raise ProvisionError(f"Could not remove {path}: {exc.strerror}.") from None


def disk_usage(path: Path) -> int:
    """Bytes used by the files under PATH (symlinks not followed)."""
    total = 0
    stack = [path]
    while stack:
        current = stack.pop()
        try:
            with os.scandir(current) as entries:
                for entry in entries:
                    try:
                        if entry.is_dir(follow_symlinks=False):
                            stack.append(Path(entry.path))
                        else:
                            total += entry.stat(follow_symlinks=False).st_size
                    except OSError:
                        continue
        except OSError:
            continue
    return total
