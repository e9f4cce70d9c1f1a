"""Platforms built from Git in the panel: a new platform from a repository, the next version of
a built one (both record the platform and start its build through hosting.platformbuild), and
the incoming push webhook, which a Git host calls with a body signed by the platform's secret."""
from __future__ import annotations

import json

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from hosting import access, audit, platformbuild
from hosting.gitforms import GitPlatformForm, NextBuildForm
from hosting.inventory import InventoryError
from hosting.models import Platform
from hosting.refused import TaskRefused
from hosting.views.common import AuthenticatedHttpRequest, client_address

MAX_BODY = 1 << 20  # a push payload of many commits is a few hundred KB


def _started(request: AuthenticatedHttpRequest, form, start) -> HttpResponse | None:  # noqa: ANN001
    try:
        platform, task = start()
    except (InventoryError, TaskRefused, PermissionDenied) as exc:
        form.add_error(None, str(exc))
        return None
    return redirect(f"{reverse('platform-detail', args=[platform.pk])}?new={task.pk}")


@login_required
def platform_new_git(request: AuthenticatedHttpRequest) -> HttpResponse:
    access.require_admin(request.user)
    form = GitPlatformForm(request.POST if request.method == "POST" else None)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        done = _started(request, form, lambda: platformbuild.start_build(
            request.user, repository=data["repository"], ref=data["ref"], name=data["name"],
            secret=data["secret"], server=data["server"], webhook=data["webhook"],
            address=client_address(request)))
        if done is not None:
            return done
    status = 400 if request.method == "POST" else 200
    return render(request, "platforms/new_git.html", {"form": form}, status=status)


@login_required
def platform_next(request: AuthenticatedHttpRequest, platform_id: int) -> HttpResponse:
    platform = access.access_platform(request.user, platform_id)
    access.require_admin(request.user)
    form = NextBuildForm(request.POST if request.method == "POST" else None)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        done = _started(request, form, lambda: platformbuild.next_build(
            request.user, platform, data["ref"], name=data["name"], address=client_address(request)))
        if done is not None:
            return done
    status = 400 if request.method == "POST" else 200
    return render(request, "platforms/next.html", {"form": form, "platform": platform}, status=status)


@csrf_exempt
@require_POST
def platform_webhook(request: HttpRequest, platform_id: int) -> HttpResponse:
    """A push: 401 without a signature, 403 with a wrong one, 404 for a platform without a
    webhook; else the build of the pushed ref is queued (202) unless it is built or queued
    already (200). Nothing is queued before the signature is checked."""
    platform = Platform.objects.exclude(status=Platform.DELETED).filter(pk=platform_id).first()
    if platform is None or not platform.webhook_secret or not platform.repository:
        return JsonResponse({"detail": "No webhook here."}, status=404)
    given = request.headers.get(platformbuild.SIGNATURE_HEADER, "")
    if not given:
        return JsonResponse({"detail": f"The {platformbuild.SIGNATURE_HEADER} header is missing."}, status=401)
    body = request.body[:MAX_BODY + 1]
    if len(body) > MAX_BODY or not platformbuild.signature_valid(platform.webhook_secret, body, given):
        audit.record(None, "platform.webhook-refused", platform, address=request.META.get("REMOTE_ADDR"),
                     detail="bad signature")
        return JsonResponse({"detail": "The signature does not match."}, status=403)
    try:
        payload = json.loads(body)
        if not isinstance(payload, dict):
            raise ValueError
        said, task = platformbuild.on_push(platform, payload)
    except (ValueError, InventoryError, TaskRefused) as exc:
        return JsonResponse({"detail": str(exc) or "The body is not a JSON object."}, status=400)
    except platformbuild.ProvisionError as exc:
        return JsonResponse({"detail": str(exc)}, status=400)
    return JsonResponse({"detail": said, "task": task.pk if task else None}, status=202 if task else 200)


@login_required
@require_POST
def platform_webhook_secret(request: AuthenticatedHttpRequest, platform_id: int) -> HttpResponse:
    """A new webhook secret for a built platform (administrators); shown on its page."""
    platform = access.access_platform(request.user, platform_id)
    access.require_admin(request.user)
    if not platform.repository:
        raise PermissionDenied("Only a platform built from Git has a webhook.")
    import secrets

    Platform.objects.filter(pk=platform.pk).update(webhook_secret=secrets.token_hex(32))
    audit.record(request.user, "platform.webhook-secret", platform, address=client_address(request))
    return redirect("platform-detail", platform_id=platform.pk)
