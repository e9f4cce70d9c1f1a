"""Secrets the control database keeps (the credentials of backup remotes), sealed with Fernet.

The key is derived from SECRET_KEY (HKDF-SHA256, its own label), so a copy of the database alone
does not open them; changing SECRET_KEY means typing the remotes' secrets again (`unseal` then
raises, and the remote says so). Sealed values are never shown back: forms ask for them again."""
from __future__ import annotations

import base64
import json
from functools import cache

from cryptography.fernet import Fernet, InvalidToken
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from django.conf import settings

_LABEL = b"harbormaster: sealed secrets of backup remotes"


class Unsealable(Exception):
    """The sealed value cannot be opened with this installation's key."""


@cache
def _fernet(secret_key: str) -> Fernet:
    key = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=_LABEL).derive(secret_key.encode())
    return Fernet(base64.urlsafe_b64encode(key))


def seal(values: dict[str, str]) -> str:
    return _fernet(str(settings.SECRET_KEY)).encrypt(json.dumps(values).encode()).decode()


def unseal(token: str) -> dict[str, str]:
    if not token:
        return {}
    try:
        data = json.loads(_fernet(str(settings.SECRET_KEY)).decrypt(token.encode()))
    except (InvalidToken, ValueError):
        raise Unsealable("The remote's secrets cannot be opened with this installation's SECRET_KEY: "
                         "enter them again.") from None
    return {str(k): str(v) for k, v in data.items()} if isinstance(data, dict) else {}
