"""`manage.py site alias add|remove|list DOMAIN [ALIAS]` and `manage.py site redirect DOMAIN
[--aliases serve|redirect] [--www none|to-bare|to-www]`: a site's names from the command line,
each change a task started through hosting.starting (the task id is printed)."""
from __future__ import annotations

from typing import Any

from django.core.management.base import CommandError

from hosting.management.taskcli import actor, as_json, table
from hosting.models import Site
from hosting.refused import TaskRefused
from hosting.starting import ArgumentsInvalid, start_task

WWW_WORDS = {"none": "", "to-bare": "to-bare", "to-www": "to-www"}


def add_arguments(sub: Any) -> None:
    alias = sub.add_parser("alias", help="List, add or remove a site's alias domains (add and remove queue a task).")
    alias.add_argument("alias_action", choices=["add", "remove", "list"], help="What to do.")
    alias.add_argument("domain", help="The site's domain.")
    alias.add_argument("alias", nargs="?", help="The alias domain (add, remove).")
    alias.add_argument("--json", action="store_true", help="list: the site's names as the API gives them.")
    redirect = sub.add_parser("redirect", help="Show or set whether aliases redirect (301) to the domain, and "
                              "the www. redirect (a change queues a task).")
    redirect.add_argument("domain", help="The site's domain.")
    redirect.add_argument("--aliases", choices=["serve", "redirect"],
                          help="serve: aliases serve the site; redirect: they answer 301 to the domain.")
    redirect.add_argument("--www", choices=sorted(WWW_WORDS),
                          help="to-bare: www.<domain> redirects to the domain; to-www: the bare name redirects "
                               "to the site's www. domain; none: no www. redirect.")


def _site(domain: str) -> Site:
    site = Site.objects.exclude(status=Site.DELETED).filter(domain=domain.strip().lower().rstrip(".")).first()
    if site is None:
        raise CommandError(f"No site {domain!r}.")
    return site


def _start(site: Site, kind: str, data: dict[str, str]) -> int:
    try:
        return start_task(actor(), site, kind, data).pk
    except (ArgumentsInvalid, TaskRefused) as exc:
        raise CommandError(str(exc)) from None


def names(site: Site) -> dict[str, Any]:
    return {"domain": site.domain, "aliases": site.aliases, "alias_mode": site.alias_mode,
            "www_redirect": site.www_redirect, "names": site.names}


def alias(options: dict[str, Any]) -> str:
    site = _site(options["domain"])
    action = options["alias_action"]
    if action == "list":
        if options["json"]:
            return as_json(names(site))
        mode = "redirect" if site.alias_mode == "redirect" else "serve"
        return table(["ALIAS", "ANSWERS"], ([a, mode] for a in site.aliases)) if site.aliases else "No aliases."
    if not options["alias"]:
        raise CommandError(f"Name the alias to {action}.")
    kind = "alias-add" if action == "add" else "alias-remove"
    task = _start(site, kind, {"alias": options["alias"]})
    return f"{site.domain}: {kind} {options['alias']} queued as task {task}"


def redirect(options: dict[str, Any]) -> str:
    site = _site(options["domain"])
    if options["aliases"] is None and options["www"] is None:
        www = site.www_name
        how = "redirect to the domain" if site.alias_mode == "redirect" else "serve the site"
        return f"{site.domain}: aliases {how}; {f'{www} redirects to {site.domain}' if www else 'no www. redirect'}."
    data = {"alias_mode": options["aliases"] or site.alias_mode,
            "www_redirect": WWW_WORDS[options["www"]] if options["www"] is not None else site.www_redirect}
    task = _start(site, "redirects", data)
    return f"{site.domain}: redirects queued as task {task}"
