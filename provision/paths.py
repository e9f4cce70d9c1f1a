"""Paths kept inside the configured roots, site directories, and names derived from domains.

Every path provision/ writes to, deletes or archives goes through Roots.inside() first: a
platform path typed by an admin, a `sites/<dir>` found on disk or a backup file name must never
let a task touch anything outside the directories the server was configured with."""
from __future__ import annotations

import hashlib
import os
import re
from collections.abc import Iterable, Iterator
from pathlib import Path, PurePosixPath

from provision.domains import normalise_domain
from provision.errors import UnsafePath

PathLike = str | os.PathLike[str]


def _shown(path: object) -> str:
    text = os.fspath(path) if isinstance(path, (str, os.PathLike)) else repr(path)
    text = str(text).replace("\x00", "\\0")
    return text if len(text) <= 200 else text[:197] + "..."


def _check_text(path: PathLike) -> str:
    """Refuse what no path of ours ever contains, before the file system sees it."""
    if not isinstance(path, (str, os.PathLike)):
        raise UnsafePath(f"{path!r} is not a path.")
    text = os.fspath(path)
    if not isinstance(text, str):
        raise UnsafePath("Paths must be text, not bytes.")
    if "\x00" in text:
        raise UnsafePath(f"{_shown(text)} contains a NUL byte.")
    if not text:
        raise UnsafePath("The path is empty.")
    if ".." in PurePosixPath(text).parts:
        raise UnsafePath(f"{_shown(text)} contains '..'; give the path without parent references.")
    return text


class Roots:
    """The directories a server lets provision/ work in (platforms, backups, vhost configs)."""

    def __init__(self, roots: Iterable[PathLike]) -> None:
        resolved: list[Path] = []
        for root in roots:
            text = _check_text(root)
            if not os.path.isabs(text):
                raise UnsafePath(f"The root {_shown(text)} must be an absolute path.")
            path = Path(text).resolve(strict=False)
            if path == Path(path.anchor):
                raise UnsafePath("The file system root / cannot be a configured root.")
            resolved.append(path)
        if not resolved:
            raise UnsafePath("No root directories are configured.")
        self.roots: tuple[Path, ...] = tuple(resolved)

    def __iter__(self) -> Iterator[Path]:
        return iter(self.roots)

    def __repr__(self) -> str:
        return f"Roots({[str(r) for r in self.roots]!r})"

    def __str__(self) -> str:
        return ", ".join(str(r) for r in self.roots)

    def inside(self, path: PathLike, *, allow_root: bool = True) -> Path:
        """Return PATH resolved (symlinks in its existing part followed), or raise UnsafePath
        when it is not inside one of the roots. Relative paths are refused: relative to what
        would depend on the worker's working directory."""
        text = _check_text(path)
        if not os.path.isabs(text):
            raise UnsafePath(f"{_shown(text)} is not an absolute path.")
        resolved = Path(text).resolve(strict=False)
        for root in self.roots:
            if resolved == root and allow_root:
                return resolved
            if resolved != root and resolved.is_relative_to(root):
                return resolved
        if resolved != Path(text):
            raise UnsafePath(f"{_shown(text)} (which leads to {_shown(resolved)}) is outside the "
                             f"configured roots ({self}).")
        raise UnsafePath(f"{_shown(text)} is outside the configured roots ({self}).")

    def join(self, base: PathLike, *parts: str) -> Path:
        """BASE/PARTS..., inside the roots. Each part must be a plain relative name: an
        absolute part would silently replace BASE, so it is refused."""
        for part in parts:
            _check_text(part)
            if os.path.isabs(part) or part.startswith("~"):
                raise UnsafePath(f"{_shown(part)} must be a relative name, not an absolute path.")
        return self.inside(Path(os.fspath(base), *parts))


def site_dir(platform_docroot: PathLike, domain: str) -> Path:
    """`<docroot>/sites/<domain>` for a valid domain, refusing anything that would leave the
    platform's `sites/` directory (including a `sites/<domain>` symlink pointing elsewhere)."""
    name = normalise_domain(domain)  # raises InvalidDomain: no '/', '..', NUL or whitespace
    docroot_text = _check_text(platform_docroot)
    if not os.path.isabs(docroot_text):
        raise UnsafePath(f"The platform docroot {_shown(docroot_text)} is not an absolute path.")
    sites = Path(docroot_text).resolve(strict=False) / "sites"
    target = sites / name
    real = target.resolve(strict=False)
    if real.parent != sites.resolve(strict=False):
        raise UnsafePath(f"{_shown(target)} leads to {_shown(real)}, outside the platform's "
                         "sites directory.")
    return target


_NOT_NAME = re.compile(r"[^a-z0-9_]+")
_HASH_LEN = 8


def safe_name(text: str, max_len: int = 32) -> str:
    """A database or user name derived from TEXT (usually a domain): [a-z0-9_], starting with a
    letter, at most MAX_LEN characters. When shortened, a stable hash of the whole TEXT is the
    suffix, so two long domains sharing a prefix still get different names.

    The mapping is lossy ("a-b.com" and "a_b.com" both give "a_b_com"): callers that need
    uniqueness check the name against existing ones."""
    if max_len < _HASH_LEN + 4:
        raise ValueError(f"max_len must be at least {_HASH_LEN + 4}.")
    if not isinstance(text, str):
        raise TypeError("safe_name() takes text.")
    name = _NOT_NAME.sub("_", text.lower()).strip("_")
    if not name or not name[0].isalpha():
        # PostgreSQL identifiers must not start with a digit; "s_" keeps such names valid.
        name = "s_" + name
    name = name.rstrip("_") or "s"
    if len(name) > max_len:
        digest = hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()[:_HASH_LEN]
        name = name[: max_len - _HASH_LEN - 1].rstrip("_") + "_" + digest
    return name
