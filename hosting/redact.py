"""Redaction of secrets from anything the panel writes out for people (the debug bundle).

Three nets, because one is never enough: values under secret-looking keys, passwords inside
URLs, and every known secret value (settings, server admin passwords, webhook secrets, token
hashes) wherever it appears in any text."""
from __future__ import annotations

import re
from typing import Any
from urllib.parse import urlsplit

from django.conf import settings

REDACTED = "[redacted]"
SECRET_KEY_NAME = re.compile(r"pass(word|wd)?|pwd|secret|token|key|signature|credential|hash|salt", re.I)
# scheme://user:password@host -> scheme://user:[redacted]@host
URL_PASSWORD = re.compile(r"(?P<head>[a-z][a-z0-9+.-]*://[^/\s:@]*:)(?P<pw>[^@\s/]+)(?P<tail>@)", re.I)
# KEY=value or "key": "value" lines in logs and text.
ASSIGNMENT = re.compile(r"(?P<k>\b[\w.-]*(?:pass(?:word|wd)?|pwd|secret|token|api[_-]?key)[\w.-]*\b\s*[=:]\s*)"
                        r"(?P<q>[\"']?)(?P<v>[^\s\"',;]+)", re.I)
MIN_SECRET = 6  # shorter values would redact ordinary words


def known_secrets() -> set[str]:
    """Every secret value this installation knows of."""
    from hosting.models import ApiToken, Platform, Server, Webhook

    found = {str(settings.SECRET_KEY), str(getattr(settings, "EMAIL_HOST_PASSWORD", "") or "")}
    for db in settings.DATABASES.values():
        found.add(str(db.get("PASSWORD") or ""))
    for url in (getattr(settings, "REDIS_URL", ""), settings.Q_CLUSTER.get("redis", "")):
        if isinstance(url, str) and url:
            found.add(urlsplit(url).password or "")
    found.update(Server.objects.exclude(db_admin_password="").values_list("db_admin_password", flat=True))
    found.update(Webhook.objects.values_list("secret", flat=True))
    found.update(Platform.objects.exclude(webhook_secret="").values_list("webhook_secret", flat=True))
    found.update(ApiToken.objects.values_list("token_hash", flat=True))
    found.update(_remote_secrets())
    return {s for s in found if len(s) >= MIN_SECRET}


def _remote_secrets() -> set[str]:
    """The off-site remotes' secrets (hosting.offsite), line by line for a private key."""
    from hosting.models import BackupRemote
    from hosting.sealed import Unsealable, unseal

    found: set[str] = set()
    for sealed in BackupRemote.objects.exclude(sealed_secrets="").values_list("sealed_secrets", flat=True):
        try:
            values = unseal(sealed).values()
        except Unsealable:
            continue
        for value in values:
            found.add(value.strip())
            found.update(line.strip() for line in value.splitlines() if "PRIVATE KEY" not in line)
    return found


def text(value: str, secrets: set[str]) -> str:
    for secret in sorted(secrets, key=len, reverse=True):
        value = value.replace(secret, REDACTED)
    value = URL_PASSWORD.sub(lambda m: m["head"] + REDACTED + m["tail"], value)
    return ASSIGNMENT.sub(lambda m: m["k"] + m["q"] + REDACTED, value)


def data(value: Any, secrets: set[str], key: str = "") -> Any:
    """VALUE with secret-looking keys' values replaced and every string run through text()."""
    if key and SECRET_KEY_NAME.search(key) and value not in (None, "", [], {}, False, 0):
        if not isinstance(value, (dict, list, tuple)):
            return REDACTED
    if isinstance(value, dict):
        return {k: data(v, secrets, str(k)) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [data(v, secrets, key) for v in value]
    if isinstance(value, str):
        return text(value, secrets)
    if isinstance(value, (int, float, bool)) or value is None:
        return value
    return text(str(value), secrets)
