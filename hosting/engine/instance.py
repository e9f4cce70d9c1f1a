"""The instance key: what sets one Harbormaster instance's keys in a shared Redis apart from
another's (AtoM's `workers_key`). Two instances on one Redis with the same queue name read one
list before this: each took the other's messages, could not unsign them (each has its own secret
key) and dropped them.

HARBORMASTER_INSTANCE names it; by default it is derived from the secret key and the control
database's engine and name, which every host of one instance shares (the database's host name
may differ from host to host, so it is left out). A host whose key differs from the panel's
never receives the panel's messages; its cluster registers its key (hosting.models.Cluster) and
the status page reports the mismatch."""
from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from django.conf import settings
from django.utils.crypto import salted_hmac


def instance_key() -> str:
    configured = getattr(settings, "HARBORMASTER_INSTANCE", "")
    if configured:
        return configured
    db = settings.DATABASES["default"]
    name = str(db["NAME"])
    if "sqlite" in db["ENGINE"]:
        name = str(Path(name).resolve())
    return _derived(settings.SECRET_KEY, db["ENGINE"], name)


@lru_cache(maxsize=8)
def _derived(secret: str, engine: str, name: str) -> str:
    # Read when a broker is made, not when settings load: a test run renames the database.
    return salted_hmac("hosting.engine.instance", f"{engine}|{name}", secret=secret,
                       algorithm="sha256").hexdigest()[:12]
