"""What every task type needs: the configured roots."""
from __future__ import annotations

from pathlib import Path

from django.conf import settings

from provision.paths import Roots


def roots() -> Roots:
    return Roots([Path(r) for r in settings.HARBORMASTER_ROOTS])
