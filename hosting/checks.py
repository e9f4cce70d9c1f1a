"""System checks: the configuration is coherent before anything runs (`manage.py check`, and
every start of the panel and the workers)."""
from __future__ import annotations

import os
from pathlib import Path

from django.conf import settings
from django.core.checks import Error, Warning, register


@register()
def check_paths(app_configs, **kwargs):
    errors = []
    data_dir = Path(settings.HARBORMASTER_DATA_DIR)
    if data_dir.exists() and not os.access(data_dir, os.W_OK):
        errors.append(Error(f"HARBORMASTER_DATA_DIR {data_dir} is not writable.", id="harbormaster.E001"))
    for root in settings.HARBORMASTER_ROOTS:
        if not Path(root).is_dir():
            errors.append(Warning(
                f"HARBORMASTER_ROOTS: {root} does not exist (yet); platforms there cannot be verified.",
                id="harbormaster.W002"))
    backup_dir = Path(settings.HARBORMASTER_BACKUP_DIR)
    if not any(backup_dir == r or r in backup_dir.parents for r in settings.HARBORMASTER_ROOTS):
        errors.append(Error(
            f"HARBORMASTER_BACKUP_DIR {backup_dir} is outside HARBORMASTER_ROOTS.",
            hint="Add its parent directory to HARBORMASTER_ROOTS or move the backups inside a root.",
            id="harbormaster.E003"))
    return errors


@register()
def check_engine(app_configs, **kwargs):
    errors = []
    longest = max(settings.HARBORMASTER_DEADLINES.values())
    q = settings.Q_CLUSTER
    if q.get("retry", 0) <= longest:
        errors.append(Error(
            f"Q_CLUSTER retry ({q.get('retry')} s) must be longer than the longest task deadline ({longest} s).",
            id="harbormaster.E010"))
    if q.get("timeout", 0) <= longest:
        errors.append(Error(
            f"Q_CLUSTER timeout ({q.get('timeout')} s) must be longer than the longest task deadline ({longest} s).",
            id="harbormaster.E011"))
    if q.get("max_attempts") != 1:
        errors.append(Error("Q_CLUSTER max_attempts must be 1: the engine decides what runs again.",
                            id="harbormaster.E012"))
    if not q.get("ack_failures"):
        errors.append(Error("Q_CLUSTER ack_failures must be on.", id="harbormaster.E013"))
    return errors


@register()
def check_catalogue(app_configs, **kwargs):
    """Every task type is complete (hosting.catalogue.checks): a type without a form, a refusal
    rule or an operation must not get as far as a button."""
    from hosting.catalogue.checks import catalogue_errors

    return catalogue_errors()
