"""The API cast: the same as the tenancy tests (tests/tenancy/conftest.py)."""
from __future__ import annotations

from tests.tenancy.conftest import *  # noqa: F401,F403 - the same cast
