"""Every task type, declared once (see hosting.catalogue). Forms live in hosting.forms, refusal
rules in hosting.catalogue.refusals, builders in hosting.operations."""
from __future__ import annotations

from hosting.catalogue import (
    ADDS_SITE,
    ADMIN,
    GROWS_DISK,
    MANAGER,
    MEMBER,
    NO_QUOTA,
    PLATFORM,
    SERVER,
    SITE,
    TaskType,
    register,
)

F = "hosting.forms."
R = "hosting.catalogue.refusals."
OP = "hosting.operations."

# --- Sites ----------------------------------------------------------------------------------
register(TaskType(
    SITE, "install", "Install", 1800, False, MEMBER, GROWS_DISK,
    form=F + "SiteTaskForm", refusal=R + "site_install", build=OP + "site_install.install_plan"))
register(TaskType(
    SITE, "verify", "Verify", 900, True, MEMBER, NO_QUOTA,
    form=F + "VerifyForm", refusal=R + "site_verify", build=OP + "site_verify.verify_plan"))
register(TaskType(
    SITE, "backup", "Back up", 7200, True, MEMBER, GROWS_DISK,
    form=F + "SiteTaskForm", refusal=R + "site_installed", build=OP + "site_backup.backup_plan"))
register(TaskType(
    SITE, "restore", "Restore", 7200, False, MEMBER, GROWS_DISK,
    form=F + "RestoreForm", refusal=R + "site_restore", build=OP + "site_backup.restore_plan",
    arguments=True, confirm=True,
    explain="Restoring replaces the site's files and database with the backup's. A safety backup of the "
            "site as it is now is taken first."))
register(TaskType(
    SITE, "clone", "Clone", 7200, False, MEMBER, ADDS_SITE,
    form=F + "CloneForm", refusal=R + "site_clone", build=OP + "site_clone.clone_plan",
    arguments=True, explain="A copy of the site under a new domain, with its own database and files."))
register(TaskType(
    SITE, "migrate", "Migrate", 7200, False, MEMBER, GROWS_DISK,
    form=F + "MigrateForm", refusal=R + "site_migrate", build=OP + "site_migrate.migrate_plan",
    arguments=True, confirm=True,
    explain="The site moves to another platform (its files, settings and vhost); drush updatedb runs there. "
            "A backup is taken first, and the site goes back to its platform if anything fails."))
register(TaskType(
    SITE, "disable", "Disable", 300, True, MEMBER, NO_QUOTA,
    form=F + "SiteTaskForm", refusal=R + "site_disable", build=OP + "site_state.disable_plan",
    confirm=True,
    explain='Visitors get a "site disabled" page until the site is enabled again. Nothing is deleted.'))
register(TaskType(
    SITE, "enable", "Enable", 300, True, MEMBER, NO_QUOTA,
    form=F + "SiteTaskForm", refusal=R + "site_enable", build=OP + "site_state.enable_plan"))
register(TaskType(
    SITE, "delete", "Delete", 3600, False, MANAGER, NO_QUOTA,
    form=F + "SiteDeleteTaskForm", refusal=R + "site_delete", build=OP + "site_delete.delete_plan",
    confirm=True, danger=True,
    explain="Deleting the site takes a backup first, then removes its files, its database and its vhost. "
            "The backup stays."))
register(TaskType(
    SITE, "restore-deleted", "Restore deleted site", 7200, False, MANAGER, ADDS_SITE,
    form=F + "RestoreDeletedForm", refusal=R + "site_restore_deleted", build=OP + "site_revive.revive_plan",
    arguments=True, confirm=True, revives=True,
    explain="The deleted site is created again on its platform from the backup: its directory, its database "
            "and its vhost."))
register(TaskType(
    SITE, "https", "HTTPS", 900, True, MEMBER, NO_QUOTA,
    form=F + "HttpsForm", refusal=R + "site_installed", build=OP + "site_https.https_plan",
    arguments=True,
    explain="A certificate from the ACME server for the site's domain and aliases (HTTP-01), then the vhost "
            "with HTTPS. If no certificate can be had, the site keeps serving as it does now."))
register(TaskType(
    SITE, "login-reset", "Login link", 300, True, MEMBER, NO_QUOTA,
    form=F + "SiteTaskForm", refusal=R + "site_login_reset", build=OP + "site_state.login_plan"))

# The names a site answers to (hosting.operations.site_aliases); the forms in hosting.aliasforms.
register(TaskType(
    SITE, "alias-add", "Add alias", 300, False, MEMBER, NO_QUOTA,
    form="hosting.aliasforms.AliasAddForm", refusal=R + "site_installed", build=OP + "site_aliases.domains_plan",
    arguments=True,
    explain="The site answers to one more name: its vhost and settings.php's trusted_host_patterns are rewritten, "
            "the web server's configuration tested before the reload, and all of it put back if anything fails."))
register(TaskType(
    SITE, "alias-remove", "Remove alias", 300, False, MEMBER, NO_QUOTA,
    form="hosting.aliasforms.AliasRemoveForm", refusal=R + "site_alias_remove",
    build=OP + "site_aliases.domains_plan", arguments=True,
    explain="The site stops answering to this name (its vhost and settings.php are rewritten)."))
register(TaskType(
    SITE, "redirects", "Redirects", 300, False, MEMBER, NO_QUOTA,
    form="hosting.aliasforms.RedirectsForm", refusal=R + "site_installed", build=OP + "site_aliases.domains_plan",
    arguments=True,
    explain="Whether the site's aliases serve it or redirect (301) to its domain, and whether the www. name "
            "redirects to the bare domain or the reverse."))
# Maintenance: drush on an installed site (hosting.operations.site_maintenance).
register(TaskType(
    SITE, "cache-rebuild", "Rebuild caches", 900, True, MEMBER, NO_QUOTA,
    form=F + "SiteTaskForm", refusal=R + "site_installed", build=OP + "site_maintenance.cache_plan"))
register(TaskType(
    SITE, "updatedb", "Run database updates", 3600, False, MEMBER, GROWS_DISK,
    form=F + "SiteTaskForm", refusal=R + "site_installed", build=OP + "site_maintenance.updatedb_plan",
    confirm=True,
    explain="drush updatedb applies the pending database updates of the site's code, then rebuilds caches. "
            "The database is backed up first, and loaded back from that backup if the updates fail."))
register(TaskType(
    SITE, "cron", "Run cron", 900, True, MEMBER, NO_QUOTA,
    form=F + "SiteTaskForm", refusal=R + "site_installed", build=OP + "site_maintenance.cron_plan"))
register(TaskType(
    SITE, "drush", "Run drush", 1800, False, MEMBER, NO_QUOTA,
    form=F + "DrushForm", refusal=R + "site_installed", build=OP + "site_maintenance.drush_plan",
    arguments=True,
    explain="Runs one drush command on the site, its output in the task log. Administrators may run any "
            "command; clients the commands their administrator allows."))
# Sync between sites of one client on one server (hosting.operations.site_sync).
register(TaskType(
    SITE, "sync", "Sync from another site", 7200, False, MEMBER, GROWS_DISK,
    form="hosting.syncforms.SyncForm", refusal=R + "site_sync", build=OP + "site_sync.sync_plan",
    arguments=True, confirm=True,
    explain="This site's database and/or files are replaced with a copy of another site's (production to "
            "staging). Its own database name, user and settings.php are kept. A backup of this site is taken "
            "first, and put back if anything fails; database updates and a cache rebuild run after."))

# --- Platforms ------------------------------------------------------------------------------
register(TaskType(
    PLATFORM, "verify", "Verify", 1800, True, ADMIN, NO_QUOTA,
    form=F + "NodeTaskForm", refusal=R + "platform_any", build=OP + "platform.verify_plan"))
register(TaskType(
    PLATFORM, "lock", "Lock", 60, True, ADMIN, NO_QUOTA,
    form=F + "NodeTaskForm", refusal=R + "platform_lock", build=OP + "platform.lock_plan",
    confirm=True,
    explain="A locked platform takes no new sites (install, clone or migrate onto it); its sites keep running."))
register(TaskType(
    PLATFORM, "unlock", "Unlock", 60, True, ADMIN, NO_QUOTA,
    form=F + "NodeTaskForm", refusal=R + "platform_unlock", build=OP + "platform.unlock_plan"))
register(TaskType(
    PLATFORM, "delete", "Delete", 3600, False, ADMIN, NO_QUOTA,
    form=F + "NodeDeleteTaskForm", refusal=R + "platform_delete", build=OP + "platform_delete.delete_plan",
    confirm=True, danger=True,
    explain="Deleting the platform removes its codebase from disk. It must have no sites left."))
# A platform built from Git (+ composer); its record is made by hosting.platformbuild, which
# starts this task on it; a failed build removes the checkout and the record.
register(TaskType(
    PLATFORM, "build", "Build from Git", 3600, False, ADMIN, NO_QUOTA,
    form="hosting.gitforms.BuildTaskForm", refusal=R + "platform_build", build=OP + "platform_build.build_plan",
    button=False))
register(TaskType(
    PLATFORM, "migrate-sites", "Migrate all sites", 300, True, ADMIN, NO_QUOTA,
    form="hosting.batchforms.MigrateSitesForm", refusal=R + "platform_migrate_sites",
    build=OP + "platform_batch.batch_plan", arguments=True, confirm=True,
    explain="Every installed site of this platform moves to the target platform, each by its own migrate "
            "(database backup, move, updatedb, verify; back to this platform if anything fails). A site that "
            "fails stays here, working; the batch stops starting sites after the failure limit."))

# --- Servers --------------------------------------------------------------------------------
register(TaskType(
    SERVER, "verify", "Verify", 300, True, ADMIN, NO_QUOTA,
    form=F + "NodeTaskForm", refusal=R + "server_any", build=OP + "server.verify_plan"))
# Off-site copies of the server's backup stores (hosting.operations.offsite, hosting.offsite).
register(TaskType(
    SERVER, "replicate", "Replicate backups", 7200, True, ADMIN, NO_QUOTA,
    form="hosting.offsiteforms.ReplicateForm", refusal=R + "server_offsite", build=OP + "offsite.replicate_plan"))
register(TaskType(
    SERVER, "verify-remote", "Verify remote copies", 7200, True, ADMIN, NO_QUOTA,
    form="hosting.offsiteforms.VerifyRemoteForm", refusal=R + "server_offsite", build=OP + "offsite.verify_remote_plan",
    arguments=True,
    explain="Reads every backup on the remote back into a scratch store and re-hashes it against its manifest."))
