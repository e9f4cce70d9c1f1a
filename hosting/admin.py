"""Django admin: for the operator's inspection and repairs. Day-to-day work goes through the panel,
which creates tasks; secrets are never rendered back here either."""
from __future__ import annotations

from django import forms
from django.contrib import admin

from hosting import models as m


class ServerForm(forms.ModelForm):
    db_admin_password = forms.CharField(
        required=False, widget=forms.PasswordInput(render_value=False),
        help_text="Leave empty to keep the stored password.",
    )

    class Meta:
        model = m.Server
        fields = "__all__"

    def clean_db_admin_password(self) -> str:
        value = self.cleaned_data.get("db_admin_password", "")
        if not value and self.instance.pk:
            return self.instance.db_admin_password
        return value


@admin.register(m.Server)
class ServerAdmin(admin.ModelAdmin):
    form = ServerForm
    list_display = ["name", "hostname", "queue", "http", "db_engine", "verified_at"]
    search_fields = ["name", "hostname", "queue"]


class MembershipInline(admin.TabularInline):
    model = m.Membership
    extra = 0
    autocomplete_fields = ["user"]


@admin.register(m.Client)
class ClientAdmin(admin.ModelAdmin):
    list_display = ["name", "title", "max_sites", "max_disk_bytes", "created_at"]
    search_fields = ["name", "title"]
    inlines = [MembershipInline]


@admin.register(m.Platform)
class PlatformAdmin(admin.ModelAdmin):
    list_display = ["name", "server", "path", "drupal_version", "status", "verified_at"]
    list_filter = ["status", "server"]
    search_fields = ["name", "path"]
    filter_horizontal = ["clients"]


@admin.register(m.Site)
class SiteAdmin(admin.ModelAdmin):
    list_display = ["domain", "platform", "client", "status", "imported", "verified_at"]
    list_filter = ["status", "imported", "platform"]
    search_fields = ["domain"]
    list_select_related = ["platform", "client"]
    raw_id_fields = ["platform", "client"]


@admin.register(m.Backup)
class BackupAdmin(admin.ModelAdmin):
    list_display = ["domain", "kind", "size", "created_at", "verified_at"]
    list_filter = ["kind"]
    search_fields = ["domain", "path"]
    raw_id_fields = ["site", "task", "client"]


class TaskStepInline(admin.TabularInline):
    model = m.TaskStep
    extra = 0
    can_delete = False
    readonly_fields = ["position", "name", "state", "started_at", "finished_at", "error"]


@admin.register(m.Task)
class TaskAdmin(admin.ModelAdmin):
    list_display = ["id", "kind", "target_label", "state", "created_at", "started_at", "finished_at"]
    list_filter = ["state", "kind", "target_type"]
    search_fields = ["target_label", "summary"]
    raw_id_fields = ["site", "platform", "server", "client", "created_by", "waiting_on", "retry_of"]
    inlines = [TaskStepInline]


@admin.register(m.TaskLog)
class TaskLogAdmin(admin.ModelAdmin):
    list_display = ["task", "position", "at", "level", "line"]
    raw_id_fields = ["task"]


@admin.register(m.Lock)
class LockAdmin(admin.ModelAdmin):
    list_display = ["key", "task", "acquired_at"]
    raw_id_fields = ["task"]


@admin.register(m.AuditEvent)
class AuditEventAdmin(admin.ModelAdmin):
    list_display = ["at", "actor_label", "action", "object_type", "object_label", "address"]
    list_filter = ["action", "object_type"]
    search_fields = ["actor_label", "object_label", "detail"]

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False


# Schedules, notification preferences and webhooks are administered here (no panel page yet):
# administrators set users' e-mail events and the instance's webhooks.
@admin.register(m.BackupSchedule)
class BackupScheduleAdmin(admin.ModelAdmin):
    list_display = ("__str__", "frequency", "keep_count", "keep_days", "enabled")
    raw_id_fields = ("site",)


@admin.register(m.NotificationPreference)
class NotificationPreferenceAdmin(admin.ModelAdmin):
    list_display = ("user", "events")


@admin.register(m.Webhook)
class WebhookAdmin(admin.ModelAdmin):
    list_display = ("name", "url", "client", "events", "active")
    # The secret is write-only in lists: only the change form shows it.
