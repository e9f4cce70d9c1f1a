"""The login form, throttled: after HARBORMASTER_LOGIN_ATTEMPTS failed logins for one username
from one address within HARBORMASTER_LOGIN_WINDOW seconds, that pair is refused (429) until the
window has passed, without checking the password.

The failures are AuditEvents ("auth.login-failed"), so the count holds across gunicorn workers
and hosts without a shared cache, and an administrator sees guessing on the audit page. Keyed
by username and address: a guesser cannot lock a user out from everywhere, and one address
cannot try many passwords on one account. The username is counted as Django authenticates it
(stripped, NFKC: " bmgr", "bmgr\t" and "ｂｍｇｒ" are one account), the address as
hosting.clientaddress resolves it behind the proxy."""
from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.conf import settings
from django.contrib.auth import views as auth_views
from django.contrib.auth.forms import UsernameField
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.utils import timezone

from hosting.clientaddress import client_address
from hosting.models import AuditEvent

FAILED = "auth.login-failed"
USERNAME_LENGTH = 150  # the user model's; a longer name is refused before any password is checked


def login_name(value: Any) -> str:
    """VALUE as the login form hands it to authenticate(): Django's UsernameField strips it and
    normalises it to NFKC; ModelBackend then compares it exactly (case included). "" when the
    form would refuse it before authenticating (empty or too long): nothing to count."""
    try:
        # Given the length limit, the field leaves an over-long value unnormalised, as the form
        # does (NFKC of 100,000 characters is slow, and such a name never authenticates).
        name = UsernameField(max_length=USERNAME_LENGTH).to_python(value)
    except ValidationError:
        return ""
    return name if name is not None and len(name) <= USERNAME_LENGTH else ""


def recent_failures(username: str, address: str | None) -> int:
    since = timezone.now() - timedelta(seconds=settings.HARBORMASTER_LOGIN_WINDOW)
    return AuditEvent.objects.filter(at__gte=since, action=FAILED, object_label=username,
                                     address=address).count()


class ThrottledLoginView(auth_views.LoginView):
    def post(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        username = login_name(request.POST.get("username", ""))
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
        username = login_name(self.request.POST.get("username", ""))
        if username:
            # Written directly, not through audit.record: the event names a username that may
            # not exist, not a model object.
            AuditEvent.objects.create(actor_label="anonymous", action=FAILED, object_type="user",
                                      object_label=username, address=client_address(self.request),
                                      detail=f"Failed login for {username}")
        return super().form_invalid(form)
