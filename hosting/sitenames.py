"""The names sites answer to: each live site's domain, its aliases and the www. counterpart that
redirects to it. A name belongs to one live site at most.

Who holds a name is looked up here, and a name is claimed only under `names_lock()`: the check
and the write of the record happen in one transaction that no other claim can enter between
them (PostgreSQL: a transaction-scoped advisory lock; SQLite: the IMMEDIATE transaction, which
holds every other writer off from BEGIN). Two sites racing for the same alias: the second to
take the lock sees the first's record and is refused. The unique constraint on live domains
(site_domain_live) remains the database's own guard for domains; aliases live in a JSON list,
which no portable unique index can cover, hence the lock."""
from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from django.db import connection, transaction
from django.db.models import Q, TextField
from django.db.models.functions import Cast

from hosting import access
from hosting.actor import is_operator
from hosting.models import Site
from provision.domains import WWW_TO_BARE, WWW_TO_WWW

# Any constant the other advisory locks of the control database do not use.
_NAMES_LOCK = 0x686D_6E61_6D65  # "hmname"


@contextmanager
def names_lock() -> Iterator[None]:
    """A transaction in which no other claim of a name runs (see the module docstring)."""
    with transaction.atomic():
        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_advisory_xact_lock(%s)", [_NAMES_LOCK])
        yield


def holder(name: str, *, exclude: int | None = None) -> Site | None:
    """The live site (other than EXCLUDE) whose domain, alias or www. counterpart NAME (a
    normalised domain) is, or None."""
    # The JSON text of the alias list holds the name in quotes; normalised names hold neither
    # quotes nor backslashes, so the text test finds exactly the lists that hold it (checked
    # again below on the decoded list).
    www = Q(www_redirect=WWW_TO_BARE, domain=name[4:]) if name.startswith("www.") else Q(pk__in=[])
    www |= Q(www_redirect=WWW_TO_WWW, domain=f"www.{name}")
    found = (Site.objects.exclude(status=Site.DELETED).annotate(alias_text=Cast("aliases", TextField()))
             .filter(Q(domain=name) | Q(alias_text__contains=f'"{name}"') | www)
             .select_related("client"))
    if exclude is not None:
        found = found.exclude(pk=exclude)
    for site in found.order_by("pk"):
        if name in site.names:
            return site
    return None


def may_know(viewer: Any, site: Site) -> bool:
    """Whether VIEWER may learn which site holds a name: an operator, an administrator, or a
    member of the site's own client."""
    if is_operator(viewer) or access.is_admin(viewer):
        return True
    return site.client_id is not None and site.client_id in access.client_ids(viewer)


def taken(name: str, site: Site, viewer: Any) -> str:
    """Why NAME cannot be claimed, in words VIEWER may read: who holds it only when they may know."""
    if not may_know(viewer, site):
        return f"{name} is taken."
    how = "its domain" if name == site.domain else "its www. redirect" if name == site.www_name else "an alias"
    return f"{name} is taken: it is {how} of site {site.domain}."


def refusal(names: list[str], viewer: Any, *, exclude: int | None = None) -> str:
    """Why one of NAMES cannot be claimed for the site EXCLUDE, or ""."""
    for name in names:
        found = holder(name, exclude=exclude)
        if found is not None:
            return taken(name, found, viewer)
    return ""
