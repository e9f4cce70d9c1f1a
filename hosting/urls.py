from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import path

from hosting.api import api
from hosting.views import (
                           account,
                           aegir,
                           audit,
                           auth,
                           backups,
                           batches,
                           clients,
                           create,
                           dashboard,
                           gitbuild,
                           invitations,
                           locks,
                           nodeedit,
                           nodes,
                           nodetasks,
                           notifications,
                           passwords,
                           people,
                           platforms,
                           remotes,
                           servers,
                           sitecert,
                           sitecron,
                           sitelogs,
                           sites,
                           status,
                           tasks,
)

login = auth.ThrottledLoginView.as_view(template_name="auth/login.html", redirect_authenticated_user=True)

urlpatterns = [
    path("", dashboard.dashboard, name="dashboard"),
    path("login/", login, name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("password-reset/", passwords.PasswordReset.as_view(), name="password-reset"),
    path("password-reset/sent/", passwords.PasswordResetDone.as_view(), name="password-reset-done"),
    path("password-reset/<uidb64>/<token>/", passwords.PasswordResetConfirm.as_view(),
         name="password-reset-confirm"),
    path("password-reset/done/", passwords.PasswordResetComplete.as_view(), name="password-reset-complete"),

    path("sites/", sites.site_list, name="site-list"),
    path("sites/new/", create.site_new, name="site-new"),
    path("sites/<int:site_id>/", sites.site_detail, name="site-detail"),
    path("sites/<int:site_id>/tasks/<slug:kind>/", nodetasks.node_task, {"target_type": "site"}, name="site-task"),
    path("sites/<int:site_id>/delete-record/", nodes.site_delete_record, name="site-delete-record"),
    path("sites/<int:site_id>/resolve-duplicate/", sites.site_resolve_duplicate, name="site-resolve-duplicate"),
    path("sites/<int:site_id>/adopt-database/", sites.site_adopt_database, name="site-adopt-database"),
    path("sites/<int:site_id>/cron/", sitecron.site_cron_interval, name="site-cron-interval"),
    path("sites/<int:site_id>/https/upload/", sitecert.site_https_upload, name="site-https-upload"),
    path("sites/<int:site_id>/logs/", sitelogs.site_logs, name="site-logs"),

    path("sites/<int:site_id>/backups/", backups.site_backups, name="site-backups"),
    path("backups/", backups.backup_list, name="backup-list"),
    path("backups/<int:backup_id>/download/", backups.backup_download, name="backup-download"),
    path("backups/<int:backup_id>/delete/", backups.backup_delete, name="backup-delete"),
    path("backups/<int:backup_id>/restore-deleted/", backups.backup_restore_deleted, name="backup-restore-deleted"),
    path("backups/remotes/", remotes.remote_list, name="remote-list"),
    path("backups/remotes/<int:remote_id>/remove/", remotes.remote_delete, name="remote-delete"),

    path("platforms/", platforms.platform_list, name="platform-list"),
    path("platforms/new/", create.platform_new, name="platform-new"),
    path("platforms/new/git/", gitbuild.platform_new_git, name="platform-new-git"),
    path("platforms/<int:platform_id>/next/", gitbuild.platform_next, name="platform-next"),
    path("platforms/<int:platform_id>/webhook-secret/", gitbuild.platform_webhook_secret,
         name="platform-webhook-secret"),
    path("hooks/platforms/<int:platform_id>/build", gitbuild.platform_webhook, name="platform-webhook"),
    path("platforms/import-aegir/", aegir.aegir_import, name="aegir-import"),
    path("platforms/<int:platform_id>/", platforms.platform_detail, name="platform-detail"),
    path("platforms/<int:platform_id>/tasks/<slug:kind>/", nodetasks.node_task, {"target_type": "platform"},
         name="platform-task"),
    path("batches/<int:batch_id>/", batches.batch_detail, name="batch-detail"),
    path("batches/<int:batch_id>/<slug:action>/", batches.batch_control, name="batch-control"),
    path("platforms/<int:platform_id>/clients/", nodeedit.platform_clients, name="platform-clients"),
    path("platforms/<int:platform_id>/delete-record/", nodes.platform_delete_record, name="platform-delete-record"),

    path("servers/", servers.server_list, name="server-list"),
    path("servers/new/", nodeedit.server_new, name="server-new"),
    path("servers/<int:server_id>/", servers.server_detail, name="server-detail"),
    path("servers/<int:server_id>/edit/", nodeedit.server_edit, name="server-edit"),
    path("servers/<int:server_id>/tasks/<slug:kind>/", nodetasks.node_task, {"target_type": "server"},
         name="server-task"),

    path("tasks/", tasks.task_list, name="task-list"),
    path("tasks/export.csv", tasks.task_export, name="task-export"),
    path("tasks/cancel/", tasks.task_bulk_cancel, name="task-bulk-cancel"),
    path("tasks/<int:task_id>/", tasks.task_detail, name="task-detail"),
    path("tasks/<int:task_id>/log/", tasks.task_log, name="task-log"),
    path("tasks/<int:task_id>/log.txt", tasks.task_log_text, name="task-log-text"),
    path("tasks/<int:task_id>/<slug:action>/", tasks.task_control, name="task-control"),

    path("locks/", locks.lock_list, name="lock-list"),
    path("locks/<int:lock_id>/unlock/", locks.lock_unlock, name="lock-unlock"),

    path("clients/", clients.client_list, name="client-list"),
    path("clients/new/", nodeedit.client_new, name="client-new"),
    path("clients/<int:client_id>/", clients.client_detail, name="client-detail"),
    path("clients/<int:client_id>/edit/", nodeedit.client_edit, name="client-edit"),
    path("clients/<int:client_id>/invite/", clients.client_invite, name="client-invite"),
    path("clients/<int:client_id>/invitations/<int:invitation_id>/revoke/", clients.invitation_revoke,
         name="client-invitation-revoke"),
    path("clients/<int:client_id>/members/<int:membership_id>/remove/", clients.member_remove,
         name="client-member-remove"),

    path("invitations/<slug:token>/", invitations.invitation_accept, name="invitation-accept"),

    path("people/", people.people_list, name="people-list"),

    path("audit/", audit.audit_list, name="audit-list"),
    path("audit/export.csv", audit.audit_export, name="audit-export"),

    path("account/tokens/", account.token_list, name="token-list"),
    path("account/password/", passwords.PasswordChange.as_view(), name="password-change"),
    path("account/password/changed/", passwords.PasswordChangeDone.as_view(), name="password-change-done"),
    path("account/notifications/", notifications.notification_preferences, name="notification-preferences"),
    path("account/tokens/<int:token_id>/revoke/", account.token_revoke, name="token-revoke"),

    path("status/", status.status, name="status"),
    path("status.json", status.status_json, name="status-json"),

    path("api/v1/", api.urls),
    path("admin/", admin.site.urls),
]
