"""Running a platform's drush: the platform's own `vendor/bin/drush`, else one on PATH. Every
call goes through the Runner with an argument list; passwords passed to drush are registered
as secrets first so they never reach a log line."""
from __future__ import annotations

import io
import re
from pathlib import Path

from provision import platform
from provision.errors import ProvisionError
from provision.runner import Runner
from provision.settings_php import DatabaseSettings

_LOGIN = re.compile(r"https?://\S+/user/reset/\S+")
# What is kept of a drush answer read back (a status field, a login link): drush prints what
# the site's code prints, and a site can print 30 MB where a word was expected.
ANSWER_LIMIT = 64 * 1024


class _Bounded(io.RawIOBase):
    """A sink that keeps the first LIMIT bytes written to it and counts the rest."""

    def __init__(self, limit: int = ANSWER_LIMIT) -> None:
        super().__init__()
        self.limit = limit
        self.kept = bytearray()
        self.more = 0

    def writable(self) -> bool:
        return True

    def write(self, data) -> int:
        room = self.limit - len(self.kept)
        self.kept += bytes(data[:room]) if room > 0 else b""
        self.more += max(0, len(data) - max(room, 0))
        return len(data)

    def text(self) -> str:
        text = self.kept.decode("utf-8", "replace")
        return f"{text} [and {self.more} more bytes]" if self.more else text


def find_drush(platform_root: Path) -> str:
    found = platform.find_drush(platform_root)
    if found is None:
        raise ProvisionError(f"No drush for the platform at {platform_root}: neither vendor/bin/drush "
                             "nor drush on PATH.")
    return str(found)


def _base(platform_root: Path, docroot: Path, uri: str) -> list[str]:
    return [find_drush(platform_root), f"--root={docroot}", f"--uri={uri}", "--yes"]


def site_install(runner: Runner, platform_root: Path, docroot: Path, *, domain: str, profile: str,
                 db: DatabaseSettings, site_name: str, admin_name: str, admin_password: str,
                 admin_mail: str) -> None:
    runner.add_secret(admin_password)
    if db.password:
        runner.add_secret(db.password)
    runner.run([
        *_base(platform_root, docroot, domain), "site:install", profile,
        f"--db-url={db.url()}", f"--sites-subdir={domain}", f"--site-name={site_name}",
        f"--account-name={admin_name}", f"--account-pass={admin_password}", f"--account-mail={admin_mail}",
    ], cwd=docroot)


def updatedb(runner: Runner, platform_root: Path, docroot: Path, domain: str) -> None:
    runner.run([*_base(platform_root, docroot, domain), "updatedb"], cwd=docroot)


def cache_rebuild(runner: Runner, platform_root: Path, docroot: Path, domain: str) -> None:
    runner.run([*_base(platform_root, docroot, domain), "cache:rebuild"], cwd=docroot)


def cron(runner: Runner, platform_root: Path, docroot: Path, domain: str) -> None:
    runner.run([*_base(platform_root, docroot, domain), "core:cron"], cwd=docroot)


def command(runner: Runner, platform_root: Path, docroot: Path, domain: str, argv: list[str]) -> None:
    """Any drush command, as an argument list after the site's own --root and --uri; its output
    goes to the task log."""
    runner.run([*_base(platform_root, docroot, domain), *argv], cwd=docroot)


def status(runner: Runner, platform_root: Path, docroot: Path, domain: str) -> None:
    runner.run([*_base(platform_root, docroot, domain), "status"], cwd=docroot)


def status_field(runner: Runner, platform_root: Path, docroot: Path, domain: str, field: str) -> str:
    """One field of `drush status` ("bootstrap": "Successful" once Drupal boots fully)."""
    out = _Bounded()
    runner.run([*_base(platform_root, docroot, domain), "status", f"--field={field}"], cwd=docroot,
               stdout=out, quiet=True)  # type: ignore[arg-type]
    return out.text().strip()


def user_login(runner: Runner, platform_root: Path, docroot: Path, domain: str) -> str:
    """A one-time login link. It is returned, never logged: only who asked may see it."""
    out = _Bounded()
    runner.run([*_base(platform_root, docroot, domain), "user:login"], cwd=docroot, stdout=out)  # type: ignore[arg-type]
    match = _LOGIN.search(out.kept.decode("utf-8", "replace"))
    if not match:
        raise ProvisionError("drush user:login printed no login link.")
    return match.group(0)


PACKAGES_LIMIT = 1024 * 1024
MAX_PACKAGES = 2000


def enabled_packages(runner: Runner, platform_root: Path, docroot: Path, domain: str) -> dict[str, str]:
    """The site's enabled modules and themes, {machine name: version} ("" when drush gives none),
    from `drush pm:list --status=enabled --format=json`. The answer is the site's (its code and
    its database print it): bounded, and only names and versions that look like them are kept.
    Raises ProvisionError when the answer is not drush's JSON."""
    import json

    from provision.packages import NAME, clean_version

    out = _Bounded(PACKAGES_LIMIT)
    runner.run([*_base(platform_root, docroot, domain), "pm:list", "--status=enabled", "--format=json"],
               cwd=docroot, stdout=out, quiet=True)  # type: ignore[arg-type]
    if out.more:
        raise ProvisionError(f"drush pm:list printed more than {PACKAGES_LIMIT} bytes.")
    try:
        rows = json.loads(out.kept.decode("utf-8", "replace") or "{}")
    except ValueError:
        raise ProvisionError("drush pm:list did not print JSON.") from None
    if isinstance(rows, list):  # an empty PHP array prints as []
        rows = {} if not rows else None
    if not isinstance(rows, dict):
        raise ProvisionError("drush pm:list printed JSON of another shape.")
    found: dict[str, str] = {}
    for name, row in list(rows.items())[:MAX_PACKAGES]:
        if not isinstance(name, str) or not NAME.match(name) or not isinstance(row, dict):
            continue
        found[name] = clean_version(row.get("version"), "")
    return found
