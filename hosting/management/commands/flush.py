"""`manage.py flush`, Django's, for a database whose audit events are append-only: emptying the
whole database (tests between transactional cases, an operator starting over) empties the audit
trail too, so it runs with the retention pruner's gate open (hosting.auditprune). Only within
this one transaction; nothing else can delete an event."""
from __future__ import annotations

from typing import Any

from django.core.management.commands import flush
from django.db import DEFAULT_DB_ALIAS, connections, transaction


class Command(flush.Command):
    def handle(self, **options: Any) -> None:
        from hosting.auditprune import gate_open

        database = options.get("database") or DEFAULT_DB_ALIAS
        if connections[database].vendor not in ("sqlite", "postgresql"):
            super().handle(**options)
            return
        with transaction.atomic(using=database), gate_open(using=database):
            super().handle(**options)
