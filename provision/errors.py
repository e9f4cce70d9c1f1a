"""The one error type of provision/ and its few refinements."""
from __future__ import annotations


class ProvisionError(Exception):
    """A provisioning step could not be done. The message is shown to the user as it is, so it
    must say what failed and never contain a secret.

    `permanent=False` marks failures worth retrying (a database server briefly unreachable).
    `detail` is what only the hosting provider's administrators may read: the message goes to the
    site's client, and must not name another client's domain, database or path; the detail may."""

    def __init__(self, message: str, *, permanent: bool = True, detail: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.permanent = permanent
        self.detail = detail

    def __str__(self) -> str:
        return self.message


class Cancelled(ProvisionError):
    """The work was stopped on request (cancel, force-stop or worker shutdown)."""


class TimedOut(ProvisionError):
    """The work ran past its deadline and was killed."""


class UnsafePath(ProvisionError):
    """A path would leave the configured roots, or a name would form such a path."""


class InvalidDomain(ProvisionError):
    """A domain name is not a valid host name."""
