"""Harbormaster's own control database, which no site ever owns (ownership.claim refuses it
whatever a site's settings.php says and whoever confirms it)."""
from __future__ import annotations

import os
from pathlib import Path

from django.conf import settings
from django.db import connections

from hosting.models import Server


def _control_databases() -> tuple[set[tuple[str, str]], list[Path]]:
    """Harbormaster's own databases: (engine, name) on database servers, and SQLite files."""
    names: set[tuple[str, str]] = set()
    files: list[Path] = []
    for alias, configured in settings.DATABASES.items():
        engine = configured.get("ENGINE", "")
        kind = next((k for k in ("postgresql", "mysql", "sqlite") if k in engine), "")
        # While tests run, the connection uses the test database's name.
        candidates = {configured.get("NAME"), (configured.get("TEST") or {}).get("NAME"),
                      connections[alias].settings_dict.get("NAME")}
        for candidate in filter(None, candidates):
            if kind == "sqlite":
                files.append(Path(str(candidate)))
            elif kind:
                names.add((kind, str(candidate)))
    return names, files


def control_database(server: Server, name: str = "", path: Path | None = None) -> bool:
    """Whether database NAME on SERVER (or the SQLite file PATH) is Harbormaster's own. By name
    on any server of the control database's engine: the control database's host may be spelt
    another way (a socket, a name) than the server's, and a false alarm costs only a question."""
    names, files = _control_databases()
    if name and (server.db_engine, name) in names:
        return True
    if path is not None:
        for control in files:
            try:
                if path.resolve() == control.resolve() or (path.exists() and os.path.samefile(path, control)):
                    return True
            except OSError:
                continue
    return False
