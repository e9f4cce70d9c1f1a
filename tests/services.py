"""Real services the tests talk to. A test that needs one skips when it is absent, unless
HARBORMASTER_REQUIRE_SERVICES=1 (CI sets it): then an absent service is a failure."""
from __future__ import annotations

import os
import shutil
import socket

import pytest

ADDRESSES = {
    "postgresql": ("127.0.0.1", 5432),
    "mariadb": ("127.0.0.1", 3306),
    "redis": ("127.0.0.1", 6379),
}


def services_required() -> bool:
    return os.environ.get("HARBORMASTER_REQUIRE_SERVICES", "") == "1"


def _missing(reason: str) -> None:
    if services_required():
        pytest.fail(f"{reason} (HARBORMASTER_REQUIRE_SERVICES=1)")
    pytest.skip(reason)


def need_service(name: str) -> tuple[str, int]:
    """Return (host, port) of a running service, or skip/fail the calling test."""
    host, port = ADDRESSES[name]
    try:
        with socket.create_connection((host, port), timeout=1):
            pass
    except OSError as exc:
        _missing(f"{name} is not reachable on {host}:{port}: {exc}")
    return host, port


def need_program(*names: str) -> str:
    """Return the path of the first program found on PATH, or skip/fail the calling test."""
    for name in names:
        path = shutil.which(name)
        if path:
            return path
    _missing(f"none of {', '.join(names)} is installed")
    raise AssertionError("unreachable")
