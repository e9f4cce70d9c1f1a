"""Locks: which task holds which resource since when, and force-unlock for administrators."""
from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render

from hosting import access, controls
from hosting.forms import ForceUnlockForm
from hosting.models import Lock
from hosting.views.common import (
    AuthenticatedHttpRequest,
    client_address,
    paginate,
    render_page,
)
from hosting.views.tasklive import heartbeat_stale

WARNING = "Unlocking a resource held by a running task can corrupt it; only do this if the task is dead."


def _locks(user):
    # A lock is seen by whoever sees the task holding it. (An admin sees every task: no
    # subquery over the whole task table for them.)
    locks = Lock.objects.select_related("task", "task__created_by")
    return locks if access.is_admin(user) else locks.filter(task__in=access.tasks(user))


@login_required
def lock_list(request: AuthenticatedHttpRequest) -> HttpResponse:
    page = paginate(_locks(request.user).order_by("acquired_at", "id"), request.GET, per_page=100)
    rows = [{"lock": lock, "stale": heartbeat_stale(lock.task)} for lock in page.rows]
    context = {"page": page, "rows": rows, "is_admin": access.is_admin(request.user), "warning": WARNING}
    return render_page(request, "locks/list.html", context, parts=("results",))


@login_required
def lock_unlock(request: AuthenticatedHttpRequest, lock_id: int) -> HttpResponse:
    access.require_admin(request.user)
    lock = _locks(request.user).filter(pk=lock_id).first()
    if lock is None:
        raise Http404("No such lock (it may have been released meanwhile).")
    if not controls.can_control(request.user, lock.task, "force-unlock"):
        raise PermissionDenied("Only administrators may force-unlock.")
    form = ForceUnlockForm(request.POST if request.method == "POST" else None)
    if request.method == "POST" and form.is_valid():
        try:
            controls.force_unlock(lock.key, by=request.user, address=client_address(request))
        except controls.ControlRefused as exc:
            messages.error(request, str(exc))
        else:
            messages.warning(request, f"Lock {lock.key} removed from task #{lock.task_id}. "
                                      "Verify the resource before trusting it.")
        return redirect("lock-list")
    context = {"lock": lock, "form": form, "warning": WARNING, "engine_warning": controls.UNLOCK_WARNING,
               "stale": heartbeat_stale(lock.task)}
    return render(request, "locks/unlock.html", context, status=400 if form.errors else 200)
