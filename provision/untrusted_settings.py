"""A site's settings.php read as what it is: a file its client can write. provision.settings_php
parses it; this opens it without trusting the file system entry."""
from __future__ import annotations

import errno
import os
import stat

from provision.errors import ProvisionError
from provision.settings_php import MAX_SETTINGS_SIZE, DatabaseSettings, parse_settings_bytes


def read_untrusted_settings(path: str | os.PathLike[str]) -> DatabaseSettings | None:
    """read_database_settings() for a settings.php a client can write: a symlink is not
    followed (it could name another site's settings.php, or any file the worker can read), and
    anything but a regular file (a FIFO would block the read until the task's deadline) or a
    file over the size limit is refused unread. Raises FileNotFoundError when there is none."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise ProvisionError(f"{path} is a symbolic link (to {_link_target(path)}); a site's "
                                 "settings.php is never followed out of its directory, so it was not read.") from None
        raise
    with os.fdopen(fd, "rb") as handle:
        info = os.fstat(handle.fileno())
        if not stat.S_ISREG(info.st_mode):
            raise ProvisionError(f"{path} is not a regular file; it was not read.")
        if info.st_size > MAX_SETTINGS_SIZE:
            raise ProvisionError(f"{path} is {info.st_size} bytes, larger than "
                                 f"{MAX_SETTINGS_SIZE // 1024 // 1024} MiB; it was not read.")
        data = handle.read(MAX_SETTINGS_SIZE + 1)
    return parse_settings_bytes(path, data)


def _link_target(path: str | os.PathLike[str]) -> str:
    try:
        target = os.readlink(path)
    except OSError:
        return "?"
    return target if len(target) <= 200 else target[:197] + "..."
