"""The login form, throttled: after HARBORMASTER_LOGIN_ATTEMPTS failed logins for one username
from one address within HARBORMASTER_LOGIN_WINDOW seconds, that pair is refused (429) until the
window has passed, without checking the password.

The failures are AuditEvents ("auth.login-failed"), so the count holds across gunicorn workers
and hosts without a shared cache, and an administrator sees guessing on the audit page. Keyed
by username and address: a guesser cannot lock a user out from everywhere, and one address
cannot try many passwords on one account."""
from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.conf import settings
from django.contrib.auth import views as auth_views
from django.http import HttpRequest, HttpResponse
from django.utils import timezone

from hosting.models import AuditEvent
from hosting.views.common import client_address

FAILED = "auth.login-failed"


def recent_failures(username: str, address: str | None) -> int:
    since = timezone.now() - timedelta(seconds=settings.HARBORMASTER_LOGIN_WINDOW)
    return AuditEvent.objects.filter(at__gte=since, action=FAILED, object_label=username[:300],
                                     address=address).count()


class ThrottledLoginView(auth_views.LoginView):
    def post(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        username = str(request.POST.get("username", ""))[:150]
        address = client_address(request)
        if username and recent_failures(username, address) >= settings.HARBORMASTER_LOGIN_ATTEMPTS:
            form = self.get_form()
            minutes = max(1, settings.HARBORMASTER_LOGIN_WINDOW // 60)
            form.errors.clear()
            form.add_error(None, f"Too many failed logins for {username} from your address. "
                                 f"Try again in {minutes} minutes.")
            response = self.render_to_response(self.get_context_data(form=form))
            response.status_code = 429
            return response
        return super().post(request, *args, **kwargs)

    def form_invalid(self, form: Any) -> HttpResponse:
        username = str(self.request.POST.get("username", ""))[:150]
        if username:
            # Written directly, not through audit.record: the event names a username that may
            # not exist, not a model object.
            AuditEvent.objects.create(actor_label="anonymous", action=FAILED, object_type="user",
                                      object_label=username, address=client_address(self.request),
                                      detail=f"Failed login for {username}")
        return super().form_invalid(form)
