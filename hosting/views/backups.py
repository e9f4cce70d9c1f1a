"""Backups: every backup the user may see (deleted sites' included), a site's backups with its
schedule, a download, a confirmed delete, and bringing a deleted site back from its backup.

Which file is served or deleted comes from the Backup row (hosting.backupactions.backup_file
keeps it inside the backup store), never from the request."""
from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.db.models import Q
from django.http import FileResponse, HttpResponse, StreamingHttpResponse
from django.http.response import HttpResponseBase
from django.shortcuts import redirect, render
from django.utils.http import content_disposition_header
from django.views.decorators.http import require_GET, require_http_methods

from hosting import access, audit, backupactions, starting
from hosting.models import Backup, BackupSchedule, Site
from hosting.offsite import locations
from hosting.refused import TaskRefused
from hosting.views.common import AuthenticatedHttpRequest, client_address, int_param, paginate
from hosting.views.queueing import queued_response, start_or_refuse
from provision.backup.export import CONTENT_TYPES

EXPORTS = {"tar": "tar", "tar.zst": "zst", "tar.gz": "gz"}


class ScheduleForm(forms.ModelForm):
    class Meta:
        model = BackupSchedule
        fields = list(backupactions.SCHEDULE_FIELDS)


def with_actions(user: Any, rows: list[Backup]) -> list[Backup]:
    """ROWS, each with `may_delete` and `may_restore` set for USER: links that would only answer
    403 are not shown (the views check again)."""
    for b in rows:
        b.may_delete = not backupactions.delete_refusal(user, b)  # type: ignore[attr-defined]
        site = b.site
        kind = "restore-deleted" if site is not None and site.status == Site.DELETED else "restore"
        b.may_restore = site is not None and starting.may_start(user, site, kind)  # type: ignore[attr-defined]
        b.locations = locations(b, list(b.copies.all()))  # type: ignore[attr-defined]
    return rows


def deleted_sites_q() -> Q:
    return Q(site__isnull=True) | Q(site__status=Site.DELETED)


@login_required
def backup_list(request: AuthenticatedHttpRequest) -> HttpResponse:
    """Every backup the user may see, newest first; `?deleted=1`: those of deleted sites only."""
    qs = (access.backups(request.user).select_related("site", "client").prefetch_related("copies__remote")
          .order_by("-created_at", "-pk"))
    deleted = request.GET.get("deleted") == "1"
    if deleted:
        qs = qs.filter(deleted_sites_q())
    site_id = int_param(request.GET, "site")
    if site_id is not None:
        qs = qs.filter(site_id=site_id)
    page = paginate(qs, request.GET)
    with_actions(request.user, page.rows)
    context = {"page": page, "deleted": deleted, "is_admin": access.is_admin(request.user)}
    return render(request, "backups/list.html", context)


@login_required
@require_http_methods(["GET", "POST"])
def site_backups(request: AuthenticatedHttpRequest, site_id: int) -> HttpResponse:
    """A site's backups, its backup schedule (editable by whoever may back it up)."""
    site = access.access_site(request.user, site_id)
    may_edit = backupactions.may_edit_schedule(request.user, site)
    governing = backupactions.schedule_view(site)
    own = BackupSchedule.objects.filter(site=site).first()
    status = 200
    if request.method == "POST":
        if not may_edit:
            raise PermissionDenied("You may not change this site's backup schedule.")
        form = ScheduleForm(request.POST, instance=own or BackupSchedule(site=site))
        if form.is_valid():
            backupactions.set_schedule(request.user, site, form.cleaned_data, address=client_address(request))
            messages.success(request, "The backup schedule is saved.")
            return redirect("site-backups", site_id=site.pk)
        status = 400
    else:
        values = governing["schedule"] or {}
        form = ScheduleForm(instance=own, initial=values if own is None else None)
    backups = with_actions(request.user, list(access.backups(request.user).filter(site=site)
                                              .select_related("site", "client").prefetch_related("copies__remote")
                                              .order_by("-created_at", "-pk")))
    context = {
        "site": site, "backups": backups, "form": form, "may_edit": may_edit, "source": governing["source"],
        "may_backup": starting.may_start(request.user, site, "backup"),
        "is_admin": access.is_admin(request.user),
    }
    return render(request, "backups/site.html", context, status=status)


@login_required
@require_GET
def backup_download(request: AuthenticatedHttpRequest, backup_id: int) -> HttpResponseBase:
    """The archive of one backup, streamed as an attachment, to whoever may see its site; with
    `?as=tar.zst` (`tar.gz`, `tar`) the standard archive of site and database, compressed as it
    is sent (no copy of the site is written anywhere)."""
    backup = access.access_backup(request.user, backup_id)
    kind = EXPORTS.get(request.GET.get("as", ""))
    plain = kind is not None
    try:
        if kind is not None:
            chunks, name = backupactions.export_archive(backup, kind)
        else:
            handle, path = backupactions.open_archive(backup)
    except TaskRefused as exc:
        return render(request, "backups/unavailable.html", {"backup": backup, "reason": str(exc)}, status=409)
    audit.record(request.user, "backup.downloaded", backup, client=backup.client, address=client_address(request),
                 detail=f"as {name}" if plain else "")
    response: HttpResponseBase
    if kind is not None:
        response = StreamingHttpResponse(chunks, content_type=CONTENT_TYPES[kind])
        # nginx in front (deploy/nginx-panel.conf) would otherwise spool a slow client's download
        # into its temporary files: a copy of the whole site on disk after all.
        response["X-Accel-Buffering"] = "no"
        response["Content-Disposition"] = content_disposition_header(True, name)
    else:
        response = FileResponse(handle, as_attachment=True, filename=path.name, content_type="application/zstd")
    response["X-Content-Type-Options"] = "nosniff"
    return response


def _back(backup: Backup) -> str:
    from django.urls import reverse

    if backup.site_id and backup.site is not None and backup.site.status != Site.DELETED:
        return reverse("site-backups", args=[backup.site_id])
    return reverse("backup-list") + "?deleted=1"


@login_required
@require_http_methods(["GET", "POST"])
def backup_delete(request: AuthenticatedHttpRequest, backup_id: int) -> HttpResponse:
    """Confirm, then delete one backup (file and row), audited."""
    backup = access.access_backup(request.user, backup_id)
    reason = backupactions.delete_refusal(request.user, backup)
    if reason:
        raise PermissionDenied(reason)
    problem = ""
    if request.method == "POST":
        try:
            backupactions.delete_backup(request.user, backup, address=client_address(request))
        except TaskRefused as exc:
            problem = str(exc)
        else:
            messages.success(request, f"Backup #{backup_id} of {backup.domain} is deleted.")
            return redirect(_back(backup))
    context = {"backup": backup, "problem": problem, "back": _back(backup),
               "last_of_deleted": backup.kind == Backup.PRE_DELETE and backupactions.site_gone(backup)}
    return render(request, "backups/delete.html", context, status=409 if problem else 200)


@login_required
@require_http_methods(["GET", "POST"])
def backup_restore_deleted(request: AuthenticatedHttpRequest, backup_id: int) -> HttpResponse:
    """Bring the deleted site of a backup back from it (site.restore-deleted, through
    hosting.starting like every task)."""
    backup = access.access_backup(request.user, backup_id)
    site = Site.objects.select_related("platform__server", "client").filter(pk=backup.site_id).first() \
        if backup.site_id else None
    if site is None:
        return render(request, "backups/unavailable.html", {
            "backup": backup, "reason": "The site's record is gone (deleted without a delete task); an "
            "administrator re-creates it by verifying its platform after restoring the files by hand."}, status=409)
    if site.status != Site.DELETED:
        if not starting.may_start(request.user, site, "restore"):
            raise PermissionDenied("You may not restore this site.")
        return redirect(f"{_url('site-task', site.pk, 'restore')}?backup={backup.pk}")
    if not starting.may_start(request.user, site, "restore-deleted"):
        raise PermissionDenied("You may not restore this site.")
    button = starting.button(request.user, site, "restore-deleted")
    if request.method == "POST":
        form = starting.task_form(request.user, site, "restore-deleted", request.POST)
        task, refused, form = start_or_refuse(request, site, "restore-deleted", form)
        if task is not None:
            return queued_response(request, task)
        if refused:
            form.add_error(None, refused)
        button = starting.Button(button.type, refused or button.reason)
        status = 409 if refused else 400
    else:
        form = starting.task_form(request.user, site, "restore-deleted", None, initial={"backup": backup.pk})
        status = 200
    context = {"backup": backup, "site": site, "form": form, "button": button}
    return render(request, "backups/restore_deleted.html", context, status=status)


def _url(name: str, *args: object) -> str:
    from django.urls import reverse

    return reverse(name, args=args)
