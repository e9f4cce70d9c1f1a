"""The site list's filters, shared by the panel's list and the API's: the same words find the
same sites in both."""
from __future__ import annotations

from typing import Any

from django.db.models import Q, QuerySet

from hosting import access
from hosting.models import Site


def sites_matching(user: Any, *, q: str = "", status: str = "", platform: int | None = None,
                   client: int | None = None, attention: bool = False) -> QuerySet[Site]:
    """The sites USER may see (hosting.access) whose domain starts with Q (domain_search), with STATUS (a status that
    is not one is no filter), on PLATFORM, of CLIENT, needing attention. Unordered."""
    sites = access.sites(user)
    if q:
        sites = sites.filter(domain_search(q))
    if status in dict(Site.STATUSES):
        sites = sites.filter(status=status)
    if platform:
        sites = sites.filter(platform_id=platform)
    if client:
        sites = sites.filter(client_id=client)
    if attention:
        sites = sites.exclude(attention="")
    return sites


def prefix(field: str, text: str) -> Q:
    """FIELD starts with TEXT, said so that a plain B-tree index on FIELD answers it on SQLite
    and PostgreSQL alike: a range from TEXT to TEXT followed by the last code point (SQLite's
    LIKE never uses an index on a case-sensitive column; PostgreSQL's LIKE does only under the C
    collation or a pattern operator class), then the exact test on the few rows in the range."""
    return Q(**{f"{field}__gte": text, f"{field}__lt": text + "\U0010ffff", f"{field}__startswith": text})


def domain_search(q: str) -> Q:
    """Domains starting with Q, or with "www." and Q: "acme" finds www.acme.test. A substring
    (a word in the middle of a domain) is not searched: no B-tree index can answer it, so it
    reads every site (see docs/decisions.md, 2026-12-08)."""
    text = q.strip().lower()
    found = prefix("domain", text)
    if not text.startswith("www."):
        found |= prefix("domain", f"www.{text}")
    return found
