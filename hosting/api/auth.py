"""API authentication: `Authorization: Bearer hm_<prefix>.<secret>` tokens, their scope, and a
per-token sliding-window rate limit kept on the token row."""
from __future__ import annotations

import hmac
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.http import HttpRequest
from django.utils import timezone
from ninja.security import HttpBearer

from hosting.models import ApiToken
from hosting.models.api import digest

SAFE_METHODS = ("GET", "HEAD", "OPTIONS")


class ApiProblem(Exception):
    """An error answered as {"code", "message"} with STATUS."""

    status = 400
    code = "bad_input"

    def __init__(self, message: str, *, code: str | None = None, status: int | None = None,
                 headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.code = code or self.code
        self.status = status or self.status
        self.headers = headers or {}


class NotAuthenticated(ApiProblem):
    status, code = 401, "unauthenticated"


class ReadOnlyToken(ApiProblem):
    status, code = 403, "read_only_token"


class RateLimited(ApiProblem):
    status, code = 429, "rate_limited"


def find_token(presented: str) -> ApiToken | None:
    prefix, _, secret = presented.partition(".")
    if not secret:
        return None
    token = ApiToken.objects.select_related("user").filter(prefix=prefix).first()
    # Constant-time compare of the hashes: the prefix is public, the secret is not.
    if token is None or not hmac.compare_digest(token.token_hash, digest(secret)):
        return None
    return token


def _window(now: datetime, seconds: int) -> datetime:
    epoch = int(now.timestamp())
    return datetime.fromtimestamp(epoch - epoch % seconds, tz=now.tzinfo)


def take_request(token_id: int, now: datetime | None = None) -> float | None:
    """Count one request of the token; None when allowed, else the seconds to wait.

    Sliding-window counter: the previous window's count weighs by how much of it still lies in
    the last WINDOW seconds. Counted under a row lock so that web processes share one limit."""
    limit, seconds = settings.HARBORMASTER_API_RATE
    now = now or timezone.now()
    current = _window(now, seconds)
    with transaction.atomic():
        token = ApiToken.objects.select_for_update().only(
            "window_start", "window_count", "previous_count").get(pk=token_id)
        if token.window_start != current:
            adjacent = token.window_start == current - timedelta(seconds=seconds)
            token.previous_count = token.window_count if adjacent else 0
            token.window_count = 0
            token.window_start = current
        elapsed = (now - current).total_seconds() / seconds
        estimate = token.previous_count * (1 - elapsed) + token.window_count
        if estimate >= limit:
            return max(1.0, seconds - (now - current).total_seconds())
        token.window_count += 1
        ApiToken.objects.filter(pk=token_id).update(
            window_start=token.window_start, window_count=token.window_count,
            previous_count=token.previous_count, last_used_at=now)
    return None


class TokenAuth(HttpBearer):
    def authenticate(self, request: HttpRequest, token: str):
        found = find_token(token)
        if found is None or not found.is_live or not found.user.is_active:
            # Unknown, revoked and expired look alike: the answer says nothing about the token.
            raise NotAuthenticated("Invalid, expired or revoked token.")
        wait = take_request(found.pk)
        if wait is not None:
            raise RateLimited("Too many requests for this token; slow down.",
                              headers={"Retry-After": str(int(wait + 0.999))})
        if request.method not in SAFE_METHODS and found.scope != ApiToken.WRITE:
            raise ReadOnlyToken("This token may only read.")
        user = found.user
        # The audit trail names the token (hosting.audit); attributes of our own, unknown to the stubs.
        user.hm_actor_label = found.label  # type: ignore[attr-defined]
        request.user = user
        request.api_token = found  # type: ignore[attr-defined]
        return user
