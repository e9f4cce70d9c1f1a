"""What a client member is shown of server internals: nothing.

Task logs, summaries and step errors are stored as the worker wrote them (the administrators'
record: absolute paths, drush command lines with --root=...). A client member reads them through
`for_user(user)`, which rewrites every absolute path on display, in the panel, the API and the
plain-text log alike:

- a path inside a Drupal site directory is shown from `sites/` on (`sites/www.acme.test/files`),
  which is what the customer knows of their site;
- a backup file is shown as `[backups]/<file name>`;
- any other absolute path (platform roots, vhost and database directories, programs) as
  `[server]/<last part>`.

Which task holds a lock a task waits for, and whose task goes first, are said without the other
task (it may be another client's). The rewrite knows no record (no query per line or page); it
is applied to text only and administrators get the text unchanged. Queue names and worker hosts
are left out by the views for members (hosting.views, hosting.api)."""
from __future__ import annotations

import re
from pathlib import PurePosixPath
from typing import Any

from django.conf import settings

from hosting import access

# An absolute path of at least two parts, not inside a URL (`https://host/a/b`: its slashes
# follow a host name or another slash) nor a fraction (`1/2`).
PATH = re.compile(r"(?<![\w:/.~%-])(?:/[\w.@+~=%-]+){2,}/?")
# A URL without a host holds a path all the same: file:///srv/x, sqlite:////srv/db.sqlite3.
HOSTLESS = re.compile(r"(?<=[a-z]:)//+(?=/)", re.I)
SITES = re.compile(r"(?:^|/)(sites/[^/]+(?:/.*)?)$")
# Who holds what a task waits for (hosting.engine.claim, fairness) may be another client's task.
HOLDER = re.compile(r"waiting for task #\d+ holding \S+")
TURN = re.compile(r"task #\d+ of .+? goes first")
SERVER = "[server]"
BACKUPS = "[backups]"


def _path(match: re.Match[str], backups: str) -> str:
    found = match.group(0)
    # A sentence's full stop is not part of the path it ends with.
    tail = ""
    while found.endswith(".") and found.count("/") > 1:
        found, tail = found[:-1], "." + tail
    stripped = found.rstrip("/")
    if backups and (stripped + "/").startswith(backups):
        rest = stripped[len(backups):]
        return f"{BACKUPS}/{rest}{tail}" if rest else BACKUPS + tail
    site = SITES.search(stripped)
    if site:
        return site.group(1) + tail
    return f"{SERVER}/{PurePosixPath(stripped).name}{tail}"


class Shown:
    """Text as USER may read it: unchanged for administrators, without paths for members."""

    def __init__(self, internals: bool) -> None:
        self.internals = internals
        backups = str(getattr(settings, "HARBORMASTER_BACKUP_DIR", "") or "")
        self._backups = backups.rstrip("/") + "/" if backups else ""

    def text(self, value: str) -> str:
        if self.internals or not value:
            return value
        if "#" in value:
            value = HOLDER.sub("waiting for another task that holds what this one needs", value)
            value = TURN.sub("another task goes first", value)
        if "/" not in value:
            return value
        value = HOSTLESS.sub("// ", value) if ":///" in value else value
        return PATH.sub(lambda m: _path(m, self._backups), value)

    __call__ = text

    def data(self, value: Any) -> Any:
        """VALUE (JSON-shaped: args, results) with every string run through text()."""
        if self.internals:
            return value
        if isinstance(value, str):
            return self.text(value)
        if isinstance(value, dict):
            return {k: self.data(v) for k, v in value.items()}
        if isinstance(value, (list, tuple)):
            return [self.data(v) for v in value]
        return value


def for_user(user: Any) -> Shown:
    """The command line's actor (a string, "cli:<login>") is an administrator's."""
    return Shown(isinstance(user, str) or access.is_admin(user))
