"""The drush command runner's rules (site.drush): a command line is split into an argument list
(shlex, never a shell), its first word is the command, and nothing in it may point drush at
another site or make it run other code than the command. Administrators (and operators) may run
any command; a client's managers and members only those on the administrator's list
(hosting.models.DrushCommand)."""
from __future__ import annotations

import re
import shlex

COMMAND = re.compile(r"[a-z][a-z0-9_-]*(:[a-z0-9_-]+)*")
# Options that would choose another site or root, load other configuration or code, or run a
# shell: refused for everyone (the task runs on its own site, with its own --root and --uri).
FORBIDDEN = ("--root", "-r", "--uri", "-l", "--alias-path", "--config", "--include", "--define", "-D",
             "--php", "--php-options", "--local", "--ssh-options", "--backend", "--strict", "--script-path")
MAX_ARGS, MAX_LENGTH = 32, 1000


class Refused(ValueError):
    """The command line is not allowed; the message says why."""


def split(line: str) -> list[str]:
    """LINE as an argument list, or Refused."""
    if len(line) > MAX_LENGTH:
        raise Refused(f"The command line is longer than {MAX_LENGTH} characters.")
    try:
        argv = shlex.split(line)
    except ValueError as exc:
        raise Refused(f"The command line does not parse: {exc}.") from None
    check(argv)
    return argv


def check(argv: list[str]) -> None:
    if not argv:
        raise Refused("Give a drush command, e.g. watchdog:show --count=20.")
    if len(argv) > MAX_ARGS:
        raise Refused(f"At most {MAX_ARGS} arguments.")
    if not COMMAND.fullmatch(argv[0]):
        raise Refused(f"{argv[0]!r} is not a drush command name.")
    for arg in argv:
        if "\x00" in arg or "\n" in arg:
            raise Refused("Arguments may not hold line breaks or NUL characters.")
        if arg.startswith("@"):
            raise Refused("Site aliases are not allowed: the command runs on this site.")
        name = arg.split("=", 1)[0]
        if name in FORBIDDEN or any(arg.startswith(f) for f in FORBIDDEN if f.startswith("-") and len(f) == 2):
            raise Refused(f"The option {name} is not allowed: the command runs on this site as it is.")


def allowed(command: str) -> bool:
    from hosting.models import DrushCommand

    return DrushCommand.objects.filter(name=command).exists()
