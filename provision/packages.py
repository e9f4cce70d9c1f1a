"""A platform's package list (Aegir's): the modules, themes and install profiles it carries, with
their versions, from their `*.info.yml` files; and the comparison of versions that says whether a
site can move to a platform (nothing it uses missing, nothing older).

The files are the platform's code, which a client may have written (a Git repository it points
at, a module it uploaded): untrusted. So the walk stays inside the docroot (no symlinks followed),
skips big files, stops after MAX_FILES info files and MAX_ENTRIES directory entries, parses YAML
with a loader that refuses aliases (a YAML bomb is nothing but aliases) and keeps only a version
that looks like one (no markup reaches a page)."""
from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path

import yaml

MAX_FILE_BYTES = 64 * 1024
MAX_FILES = 5000
MAX_ENTRIES = 200_000
MAX_DEPTH = 10
# Where Drupal keeps extensions, relative to the docroot (sites/*/modules are one site's own).
PLACES = ("core", "modules", "themes", "profiles", "sites/all/modules", "sites/all/themes")
SKIP_DIRS = {"tests", "node_modules", "vendor", ".git", "files", "private"}
TYPES = {"module", "theme", "profile", "theme_engine"}
NAME = re.compile(r"^[a-z][a-z0-9_]{0,63}$")
VERSION = re.compile(r"^[A-Za-z0-9][A-Za-z0-9.+_~-]{0,63}$")


class _NoAliases(yaml.SafeLoader):
    """A safe loader that refuses anchors and aliases (no info.yml needs them; a YAML bomb
    does) and deep nesting."""

    def compose_node(self, parent, index):
        if self.check_event(yaml.AliasEvent):
            raise yaml.YAMLError("aliases are not accepted")
        event = self.peek_event()
        if getattr(event, "anchor", None):
            raise yaml.YAMLError("anchors are not accepted")
        self._depth = getattr(self, "_depth", 0) + 1
        try:
            if self._depth > 20:
                raise yaml.YAMLError("nested too deep")
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1


@dataclass
class Scan:
    packages: dict[str, dict[str, str]] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)
    files: int = 0


def read_info(path: Path) -> dict[str, object] | None:
    """The top-level mapping of one info.yml, or None (too big, not YAML, aliases, not a mapping)."""
    try:
        with open(path, "rb") as fh:
            data = fh.read(MAX_FILE_BYTES + 1)
    except OSError:
        return None
    if len(data) > MAX_FILE_BYTES:
        return None
    try:
        loaded = yaml.load(data.decode("utf-8", "replace"), Loader=_NoAliases)  # noqa: S506 - safe subclass
    except (yaml.YAMLError, ValueError, RecursionError):
        return None
    return loaded if isinstance(loaded, dict) else None


def clean_version(value: object, core: str) -> str:
    """VALUE as a version string, or "" when it does not look like one. Core's own extensions
    say `VERSION` in a development checkout: the platform's Drupal version."""
    if isinstance(value, (int, float)):
        value = str(value)
    if not isinstance(value, str):
        return ""
    value = value.strip()
    if value == "VERSION":
        return core
    return value if VERSION.match(value) else ""


def scan(docroot: Path, core_version: str = "") -> Scan:
    """Every extension's info.yml under DOCROOT's extension places (see the module doc)."""
    found = Scan()
    entries = 0
    root = docroot.resolve()
    for place in PLACES:
        base = root / place
        if base.is_symlink() or not base.is_dir():
            continue
        for current, dirs, files in os.walk(base, followlinks=False):
            depth = len(Path(current).relative_to(root).parts)
            entries += len(dirs) + len(files)
            if entries > MAX_ENTRIES:
                found.problems.append(f"more than {MAX_ENTRIES} entries: the scan stopped there")
                return found
            dirs[:] = sorted(d for d in dirs if d not in SKIP_DIRS and not d.startswith(".")
                             and depth < MAX_DEPTH)
            for name in sorted(files):
                if not name.endswith(".info.yml"):
                    continue
                path = Path(current) / name
                if path.is_symlink() or not path.is_file():
                    continue
                found.files += 1
                if found.files > MAX_FILES:
                    found.problems.append(f"more than {MAX_FILES} info files: the scan stopped there")
                    return found
                _record(found, path, name[: -len(".info.yml")], core_version, root)
    if core_version:
        # Core always carries its system module (every site enables it): a platform of an older
        # core is a downgrade of it, which the comparison then says.
        found.packages.setdefault("system", {"type": "module", "version": core_version})
    return found


def _record(found: Scan, path: Path, machine: str, core: str, root: Path) -> None:
    where = path.relative_to(root).as_posix()
    if not NAME.match(machine):
        found.problems.append(f"{where[:200]}: not a machine name")
        return
    info = read_info(path)
    if info is None:
        found.problems.append(f"{where[:200]}: unreadable, too big or not plain YAML")
        return
    kind = info.get("type")
    kind = kind if isinstance(kind, str) and kind in TYPES else "module"
    version = clean_version(info.get("version"), core)
    if not version and info.get("version") is not None:
        found.problems.append(f"{where[:200]}: the version is not a version string")
    if machine in found.packages and found.packages[machine].get("version"):
        return  # the first copy wins, as Drupal's discovery prefers core/, then modules/
    found.packages[machine] = {"type": kind, "version": version}


_KEY = re.compile(r"^(\d+(?:\.\d+)*)(?:[-.]?(alpha|beta|rc)[-.]?(\d*))?$", re.IGNORECASE)
_STAGES = {"alpha": 0, "beta": 1, "rc": 2}


def version_key(version: str) -> tuple[tuple[int, ...], int, int] | None:
    """A sortable key for VERSION ("10.3.1", "8.x-1.2", "2.0.0-beta3"), or None when it cannot be
    compared (a -dev snapshot, a branch name)."""
    version = re.sub(r"^\d+\.x-", "", version.strip())
    match = _KEY.match(version)
    if match is None:
        return None
    numbers = tuple(int(n) for n in match.group(1).split("."))
    numbers = numbers + (0,) * (4 - len(numbers)) if len(numbers) < 4 else numbers
    stage = match.group(2)
    return numbers, _STAGES[stage.lower()] if stage else 3, int(match.group(3) or 0)


def older(candidate: str, than: str) -> bool:
    """Is CANDIDATE a lower version than THAN? False when either cannot be compared."""
    a, b = version_key(candidate), version_key(than)
    return a is not None and b is not None and a < b


def missing_or_older(uses: dict[str, str], offers: dict[str, dict[str, str]]) -> tuple[list[str], list[str]]:
    """The packages of USES ({name: version}) that OFFERS (a platform's list) lacks, and those
    it has in a lower version ("views 1.2 < 1.3")."""
    missing, downgrades = [], []
    for name, version in sorted(uses.items()):
        there = offers.get(name)
        if there is None:
            missing.append(name)
        elif version and older(there.get("version", ""), version):
            downgrades.append(f"{name} {there.get('version')} < {version}")
    return missing, downgrades
