"""Batch migrates in the panel (administrators): the batch page (progress, polled with htmx while
the batch runs; per site, where it ended and why) with its pause and resume buttons. The batch is
started by the platform page's "Migrate all sites" button (hosting.views.nodetasks, through
start_task like every task)."""
from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpResponse
from django.shortcuts import redirect
from django.views.decorators.http import require_POST

from hosting import access, batches
from hosting.models import MigrationBatch
from hosting.refused import TaskRefused
from hosting.views.common import AuthenticatedHttpRequest, render_page


def access_batch(user: object, batch_id: int) -> MigrationBatch:
    """The batch for an administrator; 404 for a batch of a platform USER cannot see (as for one
    that does not exist), 403 for one they can."""
    found = MigrationBatch.objects.select_related("source", "target").filter(pk=batch_id).first()
    if found is None or not access.platforms(user).filter(pk=found.source_id).exists():
        raise Http404
    if not access.is_admin(user):
        raise PermissionDenied("Batch migrates are for administrators.")
    return found


@login_required
def batch_detail(request: AuthenticatedHttpRequest, batch_id: int) -> HttpResponse:
    batch = access_batch(request.user, batch_id)
    context = {"batch": batch, "report": batches.report(batch), "refused": request.GET.get("refused", "")[:300]}
    return render_page(request, "batches/detail.html", context, parts=("progress",))


@login_required
@require_POST
def batch_control(request: AuthenticatedHttpRequest, batch_id: int, action: str) -> HttpResponse:
    batch = access_batch(request.user, batch_id)
    address = request.META.get("REMOTE_ADDR")
    try:
        if action == "pause":
            batches.pause(batch, by=request.user, address=address)
        elif action == "resume":
            raw = request.POST.get("max_failures", "").strip()
            limit = int(raw) if raw.isdigit() and 0 < int(raw) <= 100000 else None
            batches.resume(batch, by=request.user, max_failures=limit, address=address)
        else:
            raise Http404
    except TaskRefused as exc:
        context = {"batch": batch, "report": batches.report(batch), "refused": str(exc)}
        return render_page(request, "batches/detail.html", context, parts=("progress",))
    return redirect("batch-detail", batch_id=batch.pk)
