"""Symlinks in a site directory: which ones a backup may follow or keep, and which ones a restore
may create. The site's owner writes the site directory, so every link in it is untrusted.

One set of rules serves the backup, `verify` and the restore, so that a backup that verifies also
restores, and a backup never holds what a restore would refuse (a restore's own safety backup
included):

- `site/files` may be a link (large files kept elsewhere) only into FILES_LINK_ROOTS, the places
  the caller says this site's files may live (hosting passes `<files root>/<domain>` of the site's
  own record). Resolved with every link on the way, so a link to a link to /etc, or to another
  site's files, is refused. Followed, its content is archived as the real directory `site/files`
  and restored as one; kept, the link is archived and restored as it is.
- Every other link must stay inside the site: relative, and resolved through the archive's own
  links (a link to "." and another to "that/.." would otherwise climb out while each looks
  harmless) it never leaves `site/`. A link may go through a kept `site/files` link, but not
  climb back out of it with "..".

A backup leaves out what these rules refuse (and says so); verify and restore refuse an archive
that holds it (archives written before these rules)."""
from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from provision.errors import UnsafePath
from provision.paths import Roots

SITE = "site"
FILES = f"{SITE}/files"
_MAX_HOPS = 40  # as the kernel's ELOOP limit


def allowed_roots(files_link_roots: Iterable[str | os.PathLike[str]]) -> Roots | None:
    roots = [os.fspath(r) for r in files_link_roots]
    return Roots(roots) if roots else None


def files_link_problem(target: str, site_dir: Path | None, roots: Roots | None) -> str | None:
    """Why `site/files` may not be a link to TARGET (None: it may). A link that stays inside the
    site is an ordinary link; any other must lead into ROOTS. Relative targets are taken from
    SITE_DIR (where the site is, or is restored to), as the kernel would."""
    return _resolve(target, site_dir, roots)[0]


def _resolve(target: str, site_dir: Path | None, roots: Roots | None) -> tuple[str | None, str | None]:
    """(files_link_problem's answer, the real path it checked: None for a link inside the site)."""
    if link_problem(FILES, target, {}, files_external=False) is None:
        return None, None
    if roots is None:
        return "links for files/ are allowed nowhere on this server", None
    if not target or "\x00" in target:
        return "the link is empty or not a path", None
    if not os.path.isabs(target) and site_dir is None:
        return "it is relative, and where the site will be is not known", None
    absolute = target if os.path.isabs(target) else os.path.join(site_dir or "", target)
    real = os.path.realpath(absolute)
    try:
        roots.inside(real)
    except UnsafePath:
        return "it leads outside the places this site's files may be linked to", real
    return None, real


def link_problem(name: str, target: str, links: Mapping[str, str], files_external: bool) -> str | None:
    """Why the link NAME -> TARGET (an archive member other than site/files) may not be in a
    backup (None: it may). LINKS: every link of the archive by member name, through which
    TARGET is resolved; FILES_EXTERNAL: site/files is a kept link that passed
    files_link_problem."""
    if not target or "\x00" in target:
        return "the link is empty or not a path"
    if target.startswith("/"):
        return "it is an absolute path; only links inside the site are kept"
    stack = name.split("/")[:-1]
    pending = target.split("/")
    hops = 0
    while pending:
        part = pending.pop(0)
        if part in ("", "."):
            continue
        if part == "..":
            if len(stack) <= 1:
                return "it leads out of the site directory"
            stack.pop()
            continue
        stack.append(part)
        here = "/".join(stack)
        if here == FILES and files_external:
            if ".." in pending:
                return "it climbs out of the linked files directory"
            return None
        if here in links:
            hops += 1
            if hops > _MAX_HOPS:
                return "it is part of a loop of links"
            further = links[here]
            if not further or further.startswith("/"):
                return "it goes through a link that leaves the site"
            stack.pop()
            pending = further.split("/") + pending
    return None


def refused_links(links: Mapping[str, str], files_external: bool) -> dict[str, str]:
    """The links of LINKS (member name -> target, site/files excluded) that may not be in an
    archive, with the reason of each."""
    refused: dict[str, str] = {}
    current = dict(links)
    while True:
        found = {name: why for name in current
                 if (why := link_problem(name, current[name], current, files_external)) is not None}
        if not found:
            return refused
        refused.update(found)
        for name in found:
            del current[name]


def files_external(target: str | None) -> bool:
    """Whether a site/files link to TARGET leads out of the site (into the files roots)."""
    return target is not None and link_problem(FILES, target, {}, files_external=False) is not None


@dataclass(frozen=True)
class FilesLink:
    """What a backup does with a site whose files/ is a link."""

    target: str
    followed: bool  # archived as the real directory it leads to
    refused: str | None = None  # left out of the backup, and why
    real: Path | None = None  # the directory walked when followed

    def as_manifest(self) -> dict[str, object]:
        data: dict[str, object] = {"path": FILES, "target": self.target, "followed": self.followed}
        if self.refused:
            data["refused"] = self.refused
        return data

    @property
    def external_kept(self) -> bool:
        return not self.followed and self.refused is None and files_external(self.target)


def files_link(site_dir: Path, follow: bool, roots: Roots | None) -> FilesLink | None:
    """None when SITE_DIR/files is not a link; else whether it is followed, kept or refused.
    A link that stays inside the site is kept as a link whatever FOLLOW says (its content is in
    the backup already)."""
    files = site_dir / "files"
    if not files.is_symlink():
        return None
    target = os.readlink(files)
    problem, checked = _resolve(target, site_dir, roots)
    if problem is not None:
        return FilesLink(target, followed=False, refused=problem)
    if not follow or not files_external(target) or checked is None:
        return FilesLink(target, followed=False)
    # The path that was checked, not the link resolved again: the client may have pointed the
    # link elsewhere (another site's files) since it was read.
    real = Path(checked)
    if not real.is_dir():
        return FilesLink(target, followed=False, refused="it does not lead to a directory")
    return FilesLink(target, followed=True, real=real)


def warnings(files_link: dict[str, Any] | None, skipped: list[dict[str, str]]) -> list[str]:
    """What a backup says about the links it left out (FILES_LINK: its manifest's files_symlink)."""
    found = []
    if files_link is not None and files_link.get("refused"):
        found.append(f"files/ is a link to {files_link['target'][:200]!r}, which is not in this backup: "
                     f"{files_link['refused']}.")
    if skipped:
        shown = "; ".join(f"{s['path'][5:]} -> {s['target'][:100]!r} ({s['reason']})" for s in skipped[:5])
        more = f" and {len(skipped) - 5} more" if len(skipped) > 5 else ""
        found.append(f"{len(skipped)} link(s) of the site were left out, as a restore would refuse them: "
                     f"{shown}{more}.")
    return found
