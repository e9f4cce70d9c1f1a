"""Passwords: every logged-in user changes their own (Django's PasswordChangeView), and anyone
asks for a reset link by e-mail (Django's PasswordResetView and its confirm pages).

The reset answers the same whether or not the address has an account (Django sends only to
active accounts with a usable password and says nothing of the others), so it cannot be used to
find out who has an account. It is throttled like the login: after HARBORMASTER_LOGIN_ATTEMPTS
requests for one address from one client address within HARBORMASTER_LOGIN_WINDOW seconds, that
pair is refused (429) and nothing is sent. The requests are AuditEvents, as failed logins are,
so the count holds across workers. The link in the e-mail starts with HARBORMASTER_BASE_URL,
never with the request's Host header: a forged Host must not make the e-mail point elsewhere."""
from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.conf import settings
from django.contrib.auth import views as auth_views
from django.contrib.auth.base_user import BaseUserManager
from django.contrib.auth.forms import PasswordChangeForm, SetPasswordForm
from django.http import HttpRequest, HttpResponse
from django.urls import reverse_lazy
from django.utils import timezone

from hosting import audit
from hosting.clientaddress import client_address
from hosting.models import AuditEvent

RESET_REQUESTED = "auth.reset-requested"
EMAIL_LENGTH = 254


def reset_email(value: Any) -> str:
    """VALUE as the e-mail the throttle counts: trimmed, domain lowercased; "" when too long."""
    email = BaseUserManager.normalize_email(str(value or "").strip())
    return email.lower() if len(email) <= EMAIL_LENGTH else ""


def recent_requests(email: str, address: str | None) -> int:
    since = timezone.now() - timedelta(seconds=settings.HARBORMASTER_LOGIN_WINDOW)
    return AuditEvent.objects.filter(at__gte=since, action=RESET_REQUESTED, object_label=email,
                                     address=address).count()


class PasswordChange(auth_views.PasswordChangeView):
    template_name = "auth/password_change.html"
    success_url = reverse_lazy("password-change-done")

    def form_valid(self, form: PasswordChangeForm) -> HttpResponse:
        response = super().form_valid(form)
        audit.record(form.user, "user.password-changed", form.user, address=client_address(self.request))
        return response


class PasswordChangeDone(auth_views.PasswordChangeDoneView):
    template_name = "auth/password_change_done.html"


class PasswordReset(auth_views.PasswordResetView):
    template_name = "auth/password_reset.html"
    email_template_name = "auth/password_reset_email.txt"
    subject_template_name = "auth/password_reset_subject.txt"
    success_url = reverse_lazy("password-reset-done")

    def post(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        email = reset_email(request.POST.get("email", ""))
        address = client_address(request)
        if email and recent_requests(email, address) >= settings.HARBORMASTER_LOGIN_ATTEMPTS:
            form = self.get_form()
            form.is_valid()
            form.errors.clear()
            minutes = max(1, settings.HARBORMASTER_LOGIN_WINDOW // 60)
            form.add_error(None, f"Too many reset requests for {email} from your address. "
                                 f"Try again in {minutes} minutes.")
            response = self.render_to_response(self.get_context_data(form=form))
            response.status_code = 429
            return response
        if email:
            # Written directly: the address may belong to no account, and that is not recorded.
            AuditEvent.objects.create(actor_label="anonymous", action=RESET_REQUESTED, object_type="user",
                                      object_label=email, address=address,
                                      detail=f"Password reset asked for {email}")
        self.extra_email_context = {"base_url": settings.HARBORMASTER_BASE_URL,
                                    "prefix": settings.EMAIL_SUBJECT_PREFIX}
        return super().post(request, *args, **kwargs)


class PasswordResetDone(auth_views.PasswordResetDoneView):
    template_name = "auth/password_reset_done.html"


class PasswordResetConfirm(auth_views.PasswordResetConfirmView):
    template_name = "auth/password_reset_confirm.html"
    success_url = reverse_lazy("password-reset-complete")

    def form_valid(self, form: SetPasswordForm) -> HttpResponse:
        response = super().form_valid(form)
        audit.record(form.user, "user.password-reset", form.user, address=client_address(self.request))
        return response


class PasswordResetComplete(auth_views.PasswordResetCompleteView):
    template_name = "auth/password_reset_complete.html"
