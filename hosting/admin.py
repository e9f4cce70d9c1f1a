"""Django admin: for the operator's inspection and repairs. Day-to-day work goes through the panel,
which creates tasks; secrets are never rendered back here either.

What the engine writes (tasks, their steps and log, locks, clusters, store checks, backups) and
the audit trail are read-only here: view and search, never add, change or delete. A hand-edited
task outcome, a planted lock or a rewritten audit event would be a record nobody can trust; the
changes that are legitimate go through the controls that audit them (hosting.controls:
cancel, force-stop, abort, force-unlock, ... in the panel, the API and `manage.py tasks`)."""
from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin

from hosting import audit
from hosting import models as m
from hosting.clientaddress import client_address


class AuditedAdmin(admin.ModelAdmin):
    """Changes made in Django admin are audited like those of the panel, the API and commands."""

    def _address(self, request) -> str | None:
        return client_address(request)

    def save_model(self, request, obj, form, change) -> None:
        before = {f: form.initial.get(f) for f in form.changed_data} if change else None
        super().save_model(request, obj, form, change)
        after = {f: form.cleaned_data.get(f) for f in form.changed_data}
        audit.record(request.user, f"{obj._meta.model_name}.{'changed' if change else 'added'}", obj,
                     before=_plain(before), after=_plain(after), address=self._address(request),
                     detail="through Django admin")

    def delete_model(self, request, obj) -> None:
        audit.record(request.user, f"{obj._meta.model_name}.deleted", obj, address=self._address(request),
                     detail="through Django admin")
        super().delete_model(request, obj)

    def delete_queryset(self, request, queryset) -> None:
        for obj in queryset:
            audit.record(request.user, f"{obj._meta.model_name}.deleted", obj, address=self._address(request),
                         detail="through Django admin")
        super().delete_queryset(request, queryset)


def _plain(values: dict | None) -> dict | None:
    """JSON-safe values for the audit record (model instances and querysets become text)."""
    if values is None:
        return None
    out: dict[str, Any] = {}
    for key, value in values.items():
        if value is None or isinstance(value, (str, int, float, bool)):
            out[key] = value
        elif hasattr(value, "__iter__") and not isinstance(value, (bytes, dict)):
            out[key] = [str(v) for v in value]
        else:
            out[key] = str(value)
    return out


class ServerForm(forms.ModelForm):
    db_admin_password = forms.CharField(
        required=False, widget=forms.PasswordInput(render_value=False),
        help_text="Leave empty to keep the stored password.",
    )

    class Meta:
        model = m.Server
        fields = "__all__"
        help_texts = {
            "web_listen": "Comma-separated. nginx: `listen` values (80, [::]:80, 127.0.0.1:8080). Apache: "
                          "VirtualHost addresses (a bare port means *:port); the main config must Listen on them.",
            "web_tls_listen": "Comma-separated, where sites with a certificate answer HTTPS: nginx `listen` values "
                              "without `ssl` (443, [::]:443), or Apache addresses (the main config must Listen "
                              "on them and load mod_ssl).",
            "php_fastcgi": "PHP-FPM: host:port, [v6]:port or unix:/path/to/php-fpm.sock.",
            "web_main_config": "A private web server's main config (nginx -c, apache2 -f). Empty: the system's "
                               "(nginx, or apache2ctl with Debian's envvars).",
            "web_prefix": "A private web server's prefix (nginx -p) or ServerRoot (apache2 -d).",
        }

    def clean_db_admin_password(self) -> str:
        value = self.cleaned_data.get("db_admin_password", "")
        if not value and self.instance.pk:
            return self.instance.db_admin_password
        return value


@admin.register(m.Server)
class ServerAdmin(AuditedAdmin):
    form = ServerForm
    list_display = ["name", "hostname", "queue", "http", "db_engine", "verified_at"]
    search_fields = ["name", "hostname", "queue"]


class MembershipInline(admin.TabularInline):
    model = m.Membership
    extra = 0
    autocomplete_fields = ["user"]


@admin.register(m.Client)
class ClientAdmin(AuditedAdmin):
    list_display = ["name", "title", "max_sites", "max_disk_bytes", "created_at"]
    search_fields = ["name", "title"]
    inlines = [MembershipInline]


@admin.register(m.Platform)
class PlatformAdmin(AuditedAdmin):
    list_display = ["name", "server", "path", "drupal_version", "status", "verified_at"]
    list_filter = ["status", "server"]
    search_fields = ["name", "path"]
    filter_horizontal = ["clients"]


@admin.register(m.Site)
class SiteAdmin(AuditedAdmin):
    list_display = ["domain", "platform", "client", "status", "imported", "verified_at"]
    list_filter = ["status", "imported", "platform"]
    search_fields = ["domain"]
    list_select_related = ["platform", "client"]
    raw_id_fields = ["platform", "client"]
    # Changed by the alias-add, alias-remove and redirects tasks only: they claim each name under
    # hosting.sitenames' lock and rewrite the vhost and settings.php to match.
    readonly_fields = ["aliases", "alias_mode", "www_redirect"]


class NoWrites:
    """No add, change or delete permission, for anyone: what the engine and the audit trail
    record changes only through the actions and controls that audit it."""

    def has_add_permission(self, request, obj=None) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False


class EngineRecordAdmin(NoWrites, admin.ModelAdmin):
    """View and search only: no add or change form, no delete (one or in bulk)."""

    show_full_result_count = False  # no COUNT(*) of two million log lines beside a search

    def get_actions(self, request):
        actions = super().get_actions(request)
        actions.pop("delete_selected", None)
        return actions

    def get_readonly_fields(self, request, obj=None) -> list[str]:
        return [f.name for f in self.model._meta.concrete_fields]


class ReadOnlyInline(NoWrites, admin.TabularInline):
    extra = 0
    can_delete = False


@admin.register(m.Backup)
class BackupAdmin(EngineRecordAdmin):
    # A backup row is the evidence a restore trusts (path, checksum, manifest): only the backup
    # task writes it, and the panel's, API's and retention's delete remove it (audited).
    list_display = ["domain", "kind", "size", "created_at", "verified_at"]
    list_filter = ["kind"]
    search_fields = ["domain", "path"]


class TaskStepInline(ReadOnlyInline):
    model = m.TaskStep
    fields = readonly_fields = ("position", "name", "state", "started_at", "finished_at", "error")


@admin.register(m.Task)
class TaskAdmin(EngineRecordAdmin):
    list_display = ["id", "kind", "target_label", "state", "created_at", "started_at", "finished_at"]
    list_filter = ["state", "kind", "target_type"]
    search_fields = ["target_label", "summary"]
    inlines = [TaskStepInline]


@admin.register(m.TaskStep)
class TaskStepAdmin(EngineRecordAdmin):
    list_display = ["task", "position", "name", "state", "started_at", "finished_at"]
    list_filter = ["state"]
    search_fields = ["name", "error"]


@admin.register(m.TaskLog)
class TaskLogAdmin(EngineRecordAdmin):
    list_display = ["task", "position", "at", "level", "line"]
    list_filter = ["level"]
    search_fields = ["line"]


@admin.register(m.Lock)
class LockAdmin(EngineRecordAdmin):
    list_display = ["key", "task", "acquired_at"]
    search_fields = ["key"]


@admin.register(m.AuditEvent)
class AuditEventAdmin(EngineRecordAdmin):
    list_display = ["at", "actor_label", "action", "object_type", "object_label", "address"]
    list_filter = ["action", "object_type"]
    search_fields = ["actor_label", "object_label", "detail"]


@admin.register(m.Cluster)
class ClusterAdmin(EngineRecordAdmin):
    list_display = ["host", "queue", "pid", "started_at", "beat_at", "stopped_at", "stop_reason"]
    list_filter = ["queue", "stop_reason"]
    search_fields = ["host", "queue"]


@admin.register(m.StoreCheck)
class StoreCheckAdmin(EngineRecordAdmin):
    list_display = ["domain", "scrubbed_at", "object_count", "unusable", "updated_at"]
    search_fields = ["domain"]


# Schedules, notification preferences and webhooks are administered here (no panel page yet):
# administrators set users' e-mail events and the instance's webhooks.
@admin.register(m.BackupSchedule)
class BackupScheduleAdmin(AuditedAdmin):
    list_display = ("__str__", "frequency", "keep_count", "keep_days", "enabled")
    raw_id_fields = ("site",)


@admin.register(m.NotificationPreference)
class NotificationPreferenceAdmin(AuditedAdmin):
    list_display = ("user", "events")


@admin.register(m.Webhook)
class WebhookAdmin(AuditedAdmin):
    list_display = ("name", "url", "client", "events", "active")
    # The secret is write-only in lists: only the change form shows it.


@admin.register(m.DrushCommand)
class DrushCommandAdmin(AuditedAdmin):
    """The drush commands clients may run on their sites (site.drush)."""

    list_display = ("name", "note")
    search_fields = ("name",)
