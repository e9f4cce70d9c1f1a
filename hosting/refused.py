"""The refusal every way of starting work raises: its own module, so that quotas, actions and the
catalogue's rules can all raise it without importing one another."""
from __future__ import annotations


class TaskRefused(Exception):
    """The task cannot be queued now; the message says why (shown to the user as it is: a
    disabled button's reason, the API's 409, the command line's error)."""
