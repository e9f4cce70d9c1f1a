"""Why a task cannot run now: the refusal rule of each type (named by hosting.catalogue.entries).

A task that would only wait or fail later (a conflicting task on the same target, a locked
platform, a site that is not installed yet) is refused before it is queued, with the reason in
words: the panel shows it on a disabled button, the API answers 409 with it, the command line
exits with it. The engine's locks remain the real guard; this is advice that saves the user a
failed task. Each rule is `(situation, kind) -> str`, "" when the task may run."""
from __future__ import annotations

from hosting.catalogue.situation import Situation
from hosting.inventory import platform_refusal
from hosting.models import Platform, Site


def _site(s: Situation) -> Site:
    assert isinstance(s.target, Site)
    return s.target


def site_any(s: Situation, kind: str) -> str:
    """Every site task but restore-deleted: a live record, nothing else running, no decision waiting."""
    site = _site(s)
    if site.status == Site.DELETED:
        return "The site's record is deleted."
    return s.conflict or site.attention_refusal(kind) or ""


def site_verify(s: Situation, kind: str) -> str:
    """Also after a failed install: verify says what is there."""
    return site_any(s, kind) or ("The site is not installed yet." if _site(s).status == Site.QUEUED else "")


def site_installed(s: Situation, kind: str) -> str:
    """An installed site (enabled or disabled)."""
    failed = "The site's install failed: install it again, verify it or delete it."
    return site_verify(s, kind) or (failed if _site(s).status == Site.FAILED else "")


def site_install(s: Situation, kind: str) -> str:
    site = _site(s)
    if site.status in (Site.ENABLED, Site.DISABLED):
        return site_any(s, kind) or "The site is installed already."
    return site_any(s, kind) or platform_refusal(site.platform, site.client) or ""


def site_delete(s: Situation, kind: str) -> str:
    """Whatever state the site is in: an install that never ran or failed is deleted too."""
    return site_any(s, kind)


def site_enable(s: Situation, kind: str) -> str:
    return site_installed(s, kind) or ("The site is enabled already." if _site(s).status == Site.ENABLED else "")


def site_disable(s: Situation, kind: str) -> str:
    return site_installed(s, kind) or ("The site is disabled already." if _site(s).status == Site.DISABLED else "")


def site_login_reset(s: Situation, kind: str) -> str:
    disabled = _site(s).status == Site.DISABLED
    return site_installed(s, kind) or ("The site is disabled: enable it first." if disabled else "")


def site_alias_remove(s: Situation, kind: str) -> str:
    return site_installed(s, kind) or ("" if _site(s).aliases else "The site has no aliases.")


def site_restore(s: Situation, kind: str) -> str:
    return site_installed(s, kind) or ("" if s.backups["n"] else "There is no backup of this site yet.")


def site_restore_deleted(s: Situation, kind: str) -> str:
    """Only a deleted site, whose domain no live site took meanwhile, on a platform still there."""
    from hosting.operations.site_revive import refusal

    site = _site(s)
    if site.status != Site.DELETED:
        return "The site is not deleted."
    found = refusal(site) or s.conflict
    return found or ("" if s.backups["n"] else "There is no backup of this site.")


def site_clone(s: Situation, kind: str) -> str:
    return site_installed(s, kind) or ("" if s.clone_targets else "No platform is open for new sites of this client.")


def site_migrate(s: Situation, kind: str) -> str:
    none = "No other platform is open for new sites of this client."
    return site_installed(s, kind) or ("" if s.migrate_targets else none)


def _platform(s: Situation) -> Platform:
    assert isinstance(s.target, Platform)
    return s.target


def platform_any(s: Situation, kind: str) -> str:
    if _platform(s).status == Platform.DELETED:
        return "The platform's record is deleted."
    return s.conflict


def platform_lock(s: Situation, kind: str) -> str:
    locked = _platform(s).status == Platform.LOCKED
    return platform_any(s, kind) or ("The platform is locked already." if locked else "")


def platform_unlock(s: Situation, kind: str) -> str:
    return platform_any(s, kind) or ("" if _platform(s).status == Platform.LOCKED else "The platform is not locked.")


def platform_delete(s: Situation, kind: str) -> str:
    return platform_any(s, kind) or (
        f"{s.live_sites} site(s) live on this platform: migrate or delete them first." if s.live_sites else "")


def platform_build(s: Situation, kind: str) -> str:
    """Only a platform recorded for a build that has not run: a built one builds its next version."""
    platform = _platform(s)
    if not platform.repository:
        return "The platform has no repository to build from."
    if platform.git_commit or platform.status != Platform.QUEUED:
        return "The platform is built already: build the next version instead."
    return platform_any(s, kind)
def platform_migrate_sites(s: Situation, kind: str) -> str:
    """Installed sites to move, another enabled platform of the server to move them to, and no
    other batch moving this platform's sites."""
    from hosting.batchforms import batch_targets
    from hosting.models import MigrationBatch

    platform = _platform(s)
    found = platform_any(s, kind)
    if found:
        return found
    if not Site.objects.filter(platform=platform, status__in=(Site.ENABLED, Site.DISABLED)).exists():
        return "No installed site is on this platform."
    running = MigrationBatch.objects.filter(source=platform).exclude(state__in=MigrationBatch.FINAL).first()
    if running is not None:
        return f"Batch #{running.pk} is {running.state} on this platform: wait for it, or finish it first."
    return "" if batch_targets(platform).exists() else "No other enabled platform is on this server."


def server_any(s: Situation, kind: str) -> str:
    return s.conflict


def server_offsite(s: Situation, kind: str) -> str:
    """A server with an enabled off-site remote (hosting.offsite)."""
    from hosting.models import BackupRemote

    if not BackupRemote.objects.filter(server_id=s.target.pk, enabled=True).exists():
        return "This server has no off-site remote: add one on the Off-site remotes page."
    return server_any(s, kind)


def site_sync(s: Situation, kind: str) -> str:
    """An installed site with another installed site of its client on its server to copy from."""
    from hosting.syncforms import sync_sources

    none = "No other installed site of this client is on this site's server to copy from."
    return site_installed(s, kind) or ("" if sync_sources(s.viewer, _site(s)).exists() else none)
