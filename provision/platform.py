"""Drupal platforms on disk: what a codebase is (inspect), whether we can use it (verify), and
which sites live in it (discover). Nothing here runs PHP or drush: a verify of a platform with
a thousand sites must take seconds, and must work on a worker without PHP."""
from __future__ import annotations

import os
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from provision.domains import normalise_domain
from provision.errors import InvalidDomain, ProvisionError
from provision.paths import PathLike, Roots
from provision.settings_php import DatabaseSettings
from provision.untrusted_settings import read_untrusted_settings

# The drush stand-in imports this module at every start: what only some calls need is imported
# by them (shutil).

SUPPORTED_MAJORS = (7, 10, 11)
# Composer projects keep Drupal in web/ (drupal/recommended-project) or docroot/ (Acquia).
DOCROOT_NAMES = ("web", "docroot")
NOT_SITES = {"default": "Drupal's default site directory", "all": "shared code of Drupal 7"}

_D8_VERSION = re.compile(r"""const\s+VERSION\s*=\s*['"]([^'"]+)['"]""")
_D7_VERSION = re.compile(r"""define\(\s*['"]VERSION['"]\s*,\s*['"]([^'"]+)['"]""")
_HIDDEN = re.compile(r"^hidden\s*(?::|=)\s*(?:true|1)\s*$", re.M | re.I)


@dataclass(frozen=True)
class PlatformInfo:
    root: Path  # the codebase (the composer project for composer builds)
    docroot: Path  # where index.php and sites/ are
    drupal_version: str  # "10.3.1"
    major: int
    profiles: tuple[str, ...]
    drush: Path | None


@dataclass(frozen=True)
class DiscoveredSite:
    domain: str
    site_dir: Path
    db: DatabaseSettings | None
    note: str = ""  # why db is None, when it is


@dataclass(frozen=True)
class SkippedSite:
    name: str
    reason: str


@dataclass
class Discovery:
    sites: list[DiscoveredSite] = field(default_factory=list)
    skipped: list[SkippedSite] = field(default_factory=list)


def _read_head(path: Path, limit: int = 256 * 1024) -> str | None:
    try:
        with path.open("rb") as handle:
            return handle.read(limit).decode("utf-8", errors="replace")
    except OSError:
        return None


def find_docroot(root: Path) -> Path:
    for name in DOCROOT_NAMES:
        if (root / name / "index.php").is_file():
            return root / name
    return root


def drupal_version(docroot: Path) -> str | None:
    """The version string Drupal declares in code (8+: Drupal.php, 7: bootstrap.inc)."""
    for rel, pattern in (("core/lib/Drupal.php", _D8_VERSION), ("includes/bootstrap.inc", _D7_VERSION)):
        text = _read_head(docroot / rel)
        if text is not None and (m := pattern.search(text)):
            return m.group(1)
    return None


def _profiles(docroot: Path, major: int) -> tuple[str, ...]:
    """Install profiles a site can be installed with; hidden ones (testing) are left out."""
    found: set[str] = set()
    bases = [docroot / "profiles"]
    if major >= 8:
        bases += [docroot / "core" / "profiles", docroot / "profiles" / "contrib",
                  docroot / "profiles" / "custom"]
    for base in bases:
        try:
            entries = list(os.scandir(base))
        except OSError:
            continue
        for entry in entries:
            if not entry.is_dir() or entry.name.startswith("."):
                continue
            info = Path(entry.path) / (f"{entry.name}.info.yml" if major >= 8 else f"{entry.name}.info")
            text = _read_head(info, 16 * 1024)
            if text is not None and not _HIDDEN.search(text):
                found.add(entry.name)
    return tuple(sorted(found))


def find_drush(root: Path) -> Path | None:
    """The platform's own drush (vendor/bin/drush), else one on PATH."""
    for candidate in (root / "vendor" / "bin" / "drush", root.parent / "vendor" / "bin" / "drush"):
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return candidate
    import shutil

    found = shutil.which("drush")
    return Path(found) if found else None


def inspect_platform(path: PathLike) -> PlatformInfo:
    """Describe the Drupal codebase at PATH, or raise ProvisionError if it is not one."""
    root = Path(path).resolve()
    if not root.is_dir():
        raise ProvisionError(f"The platform directory {root} does not exist.")
    docroot = find_docroot(root)
    version = drupal_version(docroot)
    if version is None:
        raise ProvisionError(
            f"{root} is not a Drupal platform: no version found in core/lib/Drupal.php (Drupal 8 "
            "and later) or includes/bootstrap.inc (Drupal 7)."
        )
    try:
        major = int(version.split(".", 1)[0])
    except ValueError:
        raise ProvisionError(f"{root} declares an unreadable Drupal version {version!r}.") from None
    return PlatformInfo(root=root, docroot=docroot, drupal_version=version, major=major,
                        profiles=_profiles(docroot, major), drush=find_drush(root))


def verify_platform(path: PathLike, roots: Roots | Iterable[PathLike]) -> list[str]:
    """Check the platform at PATH can host sites. Raises ProvisionError when it cannot be used
    at all (outside the roots, missing, not Drupal, no sites/); returns the problems that an
    admin should fix but that do not stop existing sites from working."""
    allowed = roots if isinstance(roots, Roots) else Roots(roots)
    root = allowed.inside(path, allow_root=False)
    info = inspect_platform(root)
    allowed.inside(info.docroot)  # a web/ symlinked out of the roots is refused too
    sites = info.docroot / "sites"
    if sites.is_symlink() or not sites.is_dir():
        raise ProvisionError(f"{sites} is missing or not a directory: Drupal cannot keep sites here.")
    allowed.inside(sites)
    problems: list[str] = []
    if not os.access(sites, os.W_OK | os.X_OK):
        problems.append(f"{sites} is not writable by the worker (user id {os.getuid()}): "
                        "new sites cannot be created.")
    if info.major not in SUPPORTED_MAJORS:
        problems.append(f"Drupal {info.drupal_version} is not supported; supported are "
                        f"{', '.join(map(str, SUPPORTED_MAJORS))}.")
    if not (sites / "default" / "default.settings.php").is_file():
        problems.append(f"{sites / 'default' / 'default.settings.php'} is missing; it is the "
                        "template of every new site's settings.php.")
    if info.drush is None:
        problems.append("No drush found (neither vendor/bin/drush nor one on PATH): sites "
                        "cannot be installed or updated.")
    if not info.profiles:
        problems.append("No installation profiles found.")
    return problems


def scan_sites(docroot: PathLike) -> Discovery:
    """Every `sites/<domain>/settings.php` of a platform, and what was passed over and why."""
    sites = Path(docroot) / "sites"
    result = Discovery()
    try:
        entries = sorted(os.scandir(sites), key=lambda e: e.name)
    except OSError as exc:
        raise ProvisionError(f"Cannot read {sites}: {exc.strerror}.") from None
    for entry in entries:
        name = entry.name
        if entry.is_symlink():
            # Aegir and admins link aliases to the real site directory: the real one counts.
            result.skipped.append(SkippedSite(name, "is a symlink (an alias of another site?)"))
            continue
        if not entry.is_dir(follow_symlinks=False) or name.startswith("."):
            continue  # sites.php, example.sites.php, README.txt, development.services.yml
        if name in NOT_SITES:
            result.skipped.append(SkippedSite(name, NOT_SITES[name]))
            continue
        try:
            domain = normalise_domain(name)
        except InvalidDomain as exc:
            result.skipped.append(SkippedSite(name, f"is not a valid domain: {exc}"))
            continue
        if domain != name:
            result.skipped.append(SkippedSite(name, f"is not in normal form (expected {domain})"))
            continue
        settings = Path(entry.path) / "settings.php"
        try:
            # The client's file: a link is not followed, a FIFO or a huge file not read.
            db = read_untrusted_settings(settings)
            note = "" if db is not None else "settings.php has no database we can read without PHP"
        except FileNotFoundError:
            result.skipped.append(SkippedSite(name, "has no settings.php"))
            continue
        except (OSError, ProvisionError) as exc:
            db, note = None, f"settings.php could not be read: {getattr(exc, 'strerror', None) or exc}"
        result.sites.append(DiscoveredSite(domain=domain, site_dir=Path(entry.path), db=db, note=note))
    return result

