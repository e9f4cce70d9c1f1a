"""site.alias-add, site.alias-remove and site.redirects: the names a site answers to, and whether
its aliases and www. counterpart serve it or redirect (301) to its domain.

record (the new names claimed under hosting.sitenames' lock and written to the site's record;
undo: the record as it was) -> settings (settings.php's trusted_host_patterns rewritten, when
settings.php is Harbormaster's; undo: rewritten as it was) -> vhost (written, tested with the
server's own check and reloaded; a refused configuration puts the old files back by itself, and
the undo writes the vhost as it was).

Every step acts on what the site's record says when it runs (ctx.state["before"] keeps what it
said before the change): a site's lock keeps every other task off it meanwhile."""
from __future__ import annotations

from pathlib import Path
from typing import Any

from hosting import sitenames
from hosting.engine.steps import Context, Plan
from hosting.models import Site, Task, TaskLog
from hosting.operations import resources
from hosting.operations.common import flag, step, target_rows
from hosting.operations.leftovers import clean_leftovers
from hosting.operations.site_common import database_of, refuse_attention, settings_in, site_of, write_site_settings
from provision import sitefiles
from provision.domains import ALIAS_MODES, normalise_domain, www_counterpart
from provision.errors import InvalidDomain, ProvisionError

FIELDS = ("aliases", "alias_mode", "www_redirect")


def _args(ctx: Context) -> dict[str, Any]:
    return ctx.task.args if isinstance(ctx.task.args, dict) else {}


def _values(site: Site) -> dict[str, Any]:
    return {"aliases": list(site.aliases or []), "alias_mode": site.alias_mode, "www_redirect": site.www_redirect}


def wanted(ctx: Context, before: dict[str, Any]) -> dict[str, Any]:
    """The record's fields after this task's change (its arguments were checked when it started;
    they are read again here as untrusted as they came)."""
    args = _args(ctx)
    after = {**before, "aliases": list(before["aliases"])}
    try:
        if ctx.task.kind == "alias-add":
            name = normalise_domain(str(args.get("alias", "")))
            if name not in after["aliases"]:
                after["aliases"].append(name)
        elif ctx.task.kind == "alias-remove":
            name = normalise_domain(str(args.get("alias", "")))
            if name not in after["aliases"]:
                raise ProvisionError(f"{name} is not an alias of the site (any more).")
            after["aliases"].remove(name)
        else:
            if args.get("alias_mode") not in ALIAS_MODES:
                raise ProvisionError(f"{str(args.get('alias_mode'))[:50]!r} is not an alias mode.")
            after["alias_mode"] = args["alias_mode"]
            after["www_redirect"] = str(args.get("www_redirect") or "")
    except InvalidDomain as exc:
        raise ProvisionError(str(exc)) from None
    return after


def new_names(site: Site, after: dict[str, Any]) -> list[str]:
    """The names AFTER gives SITE that it did not answer to before."""
    try:
        www = www_counterpart(site.domain, after["www_redirect"])
    except InvalidDomain as exc:
        raise ProvisionError(str(exc)) from None
    return [n for n in [*after["aliases"], *([www] if www else [])] if n not in site.names]


# -- record --------------------------------------------------------------------------------

def record(ctx: Context) -> None:
    site = site_of(ctx)
    if site.status in (Site.DELETED, Site.QUEUED, Site.FAILED):
        raise ProvisionError(f"{site.domain} is {site.status}; install or verify it first.")
    refuse_attention(site, ctx.task.kind)
    clean_leftovers(ctx, site)
    with ctx.recording(), sitenames.names_lock():
        current = Site.objects.select_for_update().get(pk=site.pk)
        before = _values(current)
        after = wanted(ctx, before)
        for name in new_names(current, after):
            found = sitenames.holder(name, exclude=current.pk)
            if found is not None:
                # The log is the client's to read: the holder is named to administrators only.
                ctx.log(TaskLog.DETAIL, sitenames.taken(name, found, "system:worker"))
                raise ProvisionError(f"{name} is taken: another site answers to it. Nothing was changed.")
        Site.objects.filter(pk=site.pk).update(**after)
    flag(ctx, "before", before)
    ctx.state["after"] = after
    flag(ctx, "recorded")
    ctx.info(f"Recorded: {describe(site.domain, after)}")


def record_undo(ctx: Context) -> None:
    before = ctx.state.get("before")
    if ctx.state.pop("recorded", False) and before:
        with ctx.recording():
            target_rows(Site, ctx.task.site_id).update(**{k: before[k] for k in FIELDS})
        ctx.save_state()
        ctx.info("The site's record is back as it was.")


def describe(domain: str, values: dict[str, Any]) -> str:
    aliases = ", ".join(values["aliases"]) or "none"
    mode = "serve the site" if values["alias_mode"] == "serve" else f"redirect to {domain}"
    www = www_counterpart(domain, values["www_redirect"])
    return f"aliases {aliases} ({mode}){f'; {www} redirects to {domain}' if www else ''}."


# -- settings.php --------------------------------------------------------------------------

def _write_settings(ctx: Context, site: Site, aliases: list[str]) -> bool:
    """settings.php with ALIASES in trusted_host_patterns; False (a warning) when settings.php is
    not Harbormaster's: the file is its owner's, and a rewrite would lose what they wrote."""
    directory = resources.site_dir(site)
    if not sitefiles.is_ours(directory):
        ctx.warning(f"settings.php of {site.domain} was not written by Harbormaster: its trusted_host_patterns "
                    "are left as they are (add the new names there yourself).")
        return False
    database_of(ctx, site, directory)  # settings.php must name the database the record owns
    declared = settings_in(ctx, directory)
    write_site_settings(ctx, Path(directory), domain=site.domain, aliases=aliases, db=declared,
                        platform=site.platform, hash_salt=sitefiles.read_hash_salt(directory))
    return True


def settings(ctx: Context) -> None:
    site = site_of(ctx)
    if ctx.state["after"]["aliases"] == ctx.state["before"]["aliases"]:
        ctx.info("The aliases do not change: settings.php stays as it is.")
        return
    if _write_settings(ctx, site, ctx.state["after"]["aliases"]):
        flag(ctx, "settings")
        ctx.info("settings.php: trusted_host_patterns rewritten for the site's names.")


def settings_undo(ctx: Context) -> None:
    if ctx.state.pop("settings", False):
        site = site_of(ctx)
        _write_settings(ctx, site, ctx.state["before"]["aliases"])
        ctx.save_state()
        ctx.info("settings.php is back as it was.")


# -- vhost ---------------------------------------------------------------------------------

def _spec(site: Site, values: dict[str, Any]) -> Any:
    return resources.vhost_spec(site.domain, values["aliases"], site.platform, alias_mode=values["alias_mode"],
                                www_redirect=values["www_redirect"])


def vhost(ctx: Context) -> None:
    site = site_of(ctx)
    web = resources.web_server(site.platform.server, ctx.runner)
    path = web.write_vhost(_spec(site, ctx.state["after"]))  # tested before the reload; refused: old files back
    flag(ctx, "vhost")
    ctx.info(f"Vhost {path} written{'' if web.kind == 'none' else f'; {web.kind} accepted it and reloaded'}.")


def vhost_undo(ctx: Context) -> None:
    if ctx.state.pop("vhost", False):
        site = site_of(ctx)
        resources.web_server(site.platform.server, ctx.runner).write_vhost(_spec(site, ctx.state["before"]))
        ctx.save_state()
        ctx.info("The vhost is back as it was.")


def domains_plan(task: Task) -> Plan:
    return Plan([
        step("record", record, record_undo, label="Claim the names and record them"),
        step("settings", settings, settings_undo, label="Rewrite trusted_host_patterns in settings.php"),
        step("vhost", vhost, vhost_undo, label="Write the vhost, test it and reload"),
    ])
