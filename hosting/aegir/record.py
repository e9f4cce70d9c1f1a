"""Recording an Aegir import plan: clients by name, platforms and sites marked as Aegir's (their
`aegir` field), aliases, then a verify of every new platform and site through
hosting.starting.start_task. All of it is one transaction: a run interrupted before its commit
left nothing, and the next run does it all; a second run finds what the first recorded known.
Nothing on disk changes here: the verifies do what they always do.

The verifies are started by an operator named after the person who confirmed the import: the
import is their confirmation that each site's database (the one its settings.php names, planned
under ownership.claim's rule) is the site's, and a site verify records it only after reaching it,
under the database's lock."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from django.db import transaction

from hosting import audit
from hosting.actor import Actor, Operator, name_of
from hosting.aegir.plan import Plan, build
from hosting.models import Client, Platform, Server, Site, Task
from hosting.starting import start_task
from provision.domains import ALIASES_REDIRECT


class ImportRefused(Exception):
    """The import cannot be recorded (the records changed since the plan); nothing was written."""


@dataclass
class Outcome:
    plan: Plan
    platforms: list[Platform] = field(default_factory=list)
    sites: list[Site] = field(default_factory=list)
    clients: list[Client] = field(default_factory=list)
    tasks: list[Task] = field(default_factory=list)

    def counts(self) -> dict[str, int]:
        counts = self.plan.counts()
        counts.update(platforms=len(self.platforms), sites=len(self.sites), clients=len(self.clients),
                      verifies=len(self.tasks))
        return counts


def run(directory: Path, server: Server, *, by: Actor, address: str | None = None) -> Outcome:
    """Plan the import of DIRECTORY onto SERVER and record it for BY (an administrator or an
    operator: callers check)."""
    with transaction.atomic():
        # One import at a time: the server's row is the mutex, so two runs cannot both find a
        # domain free and both record it (the unique constraint would refuse the second anyway).
        Server.objects.select_for_update().get(pk=server.pk)
        plan = build(directory, server)
        return record(plan, by=by, address=address)


def record(plan: Plan, *, by: Actor, address: str | None = None) -> Outcome:
    outcome = Outcome(plan)
    starter = Operator(f"aegir import ({name_of(by)})")
    with transaction.atomic():
        clients = {c.name: c for c in Client.objects.filter(name__in=plan.clients_new + plan.clients_existing)}
        for name in plan.clients_new:
            if name not in clients:
                clients[name] = Client.objects.create(name=name, title=plan.client_titles.get(name, name))
                outcome.clients.append(clients[name])
        records: dict[str, Platform] = {}
        for planned in plan.platforms:
            if planned.record is not None:
                records[planned.context] = planned.record
                continue
            made = Platform.objects.create(name=planned.name, path=planned.path, server=plan.server,
                                           aegir={"context": planned.context, "makefile": planned.makefile})
            records[planned.context] = made
            outcome.platforms.append(made)
        for site in plan.sites:
            made_site = Site.objects.create(
                domain=site.domain, platform=records[site.platform.context], status=site.status, imported=True,
                client=clients.get(site.client) if site.client else None, profile=site.profile,
                aliases=site.aliases, aegir=site.aegir, **carried_over(site.domain, site.aegir))
            outcome.sites.append(made_site)
        audit.record(by, "aegir.imported", None, address=address, after=outcome.counts(),
                     detail=f"Imported from the Aegir contexts in {plan.directory}: "
                            + ", ".join(f"{k} {v}" for k, v in outcome.counts().items()) + ".")
        for made in outcome.platforms:
            outcome.tasks.append(start_task(starter, made, "verify", {}, address=address))
        for made_site, planned_site in zip(outcome.sites, plan.sites, strict=True):
            data: dict[str, Any] = {"adopt_database": planned_site.adopt} if planned_site.adopt else {}
            outcome.tasks.append(start_task(starter, made_site, "verify", data, address=address))
    return outcome


AEGIR_HTTPS = {"enabled": Site.HTTPS_ON, "required": Site.HTTPS_REQUIRED}


def carried_over(domain: str, aegir: dict[str, Any]) -> dict[str, str]:
    """The site's redirects and HTTPS mode as Aegir had them: aliases that redirect to the
    site's own domain (Aegir's `redirection`; a redirection to another name stays in the `aegir`
    field, as Harbormaster redirects to the domain only), and HTTPS on or required (the renewal
    schedule then obtains the site's certificate, hosting.renewals.without_certificate)."""
    fields = {"https_mode": AEGIR_HTTPS.get(str(aegir.get("https", "")), Site.HTTPS_OFF)}
    if aegir.get("redirection") == domain:
        fields["alias_mode"] = ALIASES_REDIRECT
    return fields
