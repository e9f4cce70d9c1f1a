"""What killed tasks leave beside a site in its platform's sites/, removed by the next task on
the site (verify included), which says so in its log.

A restore works in `sites/.<domain>.restore-XXXXXXXX` (tempfile.mkdtemp: eight characters of
[a-z0-9_]) and swaps the old directory aside as `sites/.<domain>.old-<8 hex>`. A worker killed
in between leaves them for good: gigabytes, with copies of settings.php and the dump. Only what
is provably this site's is removed: exactly that name with this domain (no other domain can
produce it: the suffix has a fixed length), a real directory (not a link) owned by the worker's
user. Nothing of it is in use: the task doing it holds the site's lock, so no other task of the
site (the restore that made it included) is running. An `.old-` directory is removed only
while the site's own directory is there: without it, the `.old-` one is the site."""
from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

from hosting.engine.steps import Context
from hosting.models import Site
from hosting.operations import resources
from provision import sitefiles
from provision.backup.restore import OLD_SUFFIX, WORK_SUFFIX
from provision.errors import ProvisionError


def leftovers(sites_dir: Path, domain: str, *, site_present: bool) -> Iterator[Path]:
    """The leftovers of DOMAIN's interrupted restores in SITES_DIR."""
    prefix = f".{domain}."
    try:
        entries = list(os.scandir(sites_dir))
    except OSError:
        return
    for entry in entries:
        name = entry.name
        if not name.startswith(prefix):
            continue
        rest = name[len(prefix):]
        if not (WORK_SUFFIX.fullmatch(rest) or (site_present and OLD_SUFFIX.fullmatch(rest))):
            continue
        try:
            if entry.is_symlink() or not entry.is_dir(follow_symlinks=False):
                continue
            if entry.stat(follow_symlinks=False).st_uid != os.getuid():
                continue
        except OSError:
            continue
        yield Path(entry.path)


def clean_leftovers(ctx: Context, site: Site) -> None:
    """Remove the leftovers of SITE's interrupted restores from its platform's sites/."""
    try:
        directory = resources.site_dir(site)
    except ProvisionError:
        return  # the task's own checks say what is wrong with the platform
    present = directory.is_dir() and not directory.is_symlink()
    for path in leftovers(directory.parent, site.domain, site_present=present):
        size = sitefiles.disk_usage(path)
        try:
            sitefiles.remove(path)
        except ProvisionError as exc:
            ctx.warning(f"{path.name}, left by an interrupted restore, could not be removed: {exc}")
            continue
        ctx.info(f"Removed {path.name} ({size} bytes) from {path.parent}: left by an interrupted restore "
                 f"of {site.domain}.")
