"""Validators shared by the node models."""
from __future__ import annotations

import re

from django.core.exceptions import ValidationError

from provision.domains import normalise_domain
from provision.errors import InvalidDomain

_NAME = re.compile(r"^[a-z0-9][a-z0-9_.-]{0,62}$")


def validate_domain(value: str) -> None:
    try:
        normalised = normalise_domain(value)
    except InvalidDomain as exc:
        raise ValidationError(str(exc), code="invalid_domain") from None
    if normalised != value:
        raise ValidationError(f"Store the normalised form {normalised!r}.", code="not_normalised")


def validate_node_name(value: str) -> None:
    """Names of servers, platforms and clients appear in paths, queue names and commands."""
    if not _NAME.match(value or ""):
        raise ValidationError(
            f"{value!r} is not a valid name: use 1 to 63 lower-case letters, digits, '.', '_' or '-', "
            "starting with a letter or digit.",
            code="invalid_name",
        )


def validate_absolute_path(value: str) -> None:
    if "\x00" in value:
        raise ValidationError("The path contains a NUL byte.", code="invalid_path")
    if not value.startswith("/"):
        raise ValidationError(f"{value!r} is not an absolute path.", code="invalid_path")
    if any(part == ".." for part in value.split("/")):
        raise ValidationError(f"{value!r} contains '..'.", code="invalid_path")
