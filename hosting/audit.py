"""The audit trail: one AuditEvent per change made by a person, a token or the system."""
from __future__ import annotations

from typing import Any

from django.db import models

from hosting.actor import Actor, name_of
from hosting.models import AuditEvent, Client

SECRET_KEYS = ("password", "secret", "token", "key")


def label(actor: Actor | None) -> str:
    """How the audit trail names ACTOR (and a task the name of who started it)."""
    # Set by the API's token authentication: "alice via token ci-deploy".
    via = getattr(actor, "hm_actor_label", None)
    return via or name_of(actor)


def scrub(data: Any) -> Any:
    """Drop the values of secret-looking keys before they are stored."""
    if isinstance(data, dict):
        return {k: ("[secret]" if any(s in str(k).lower() for s in SECRET_KEYS) else scrub(v)) for k, v in data.items()}
    if isinstance(data, list):
        return [scrub(v) for v in data]
    return data


def record(
    actor: Actor | None, action: str, obj: models.Model | None = None, *, client: Client | None = None,
    before: dict | None = None, after: dict | None = None, detail: str = "", address: str | None = None,
) -> AuditEvent:
    user: Any = actor if getattr(actor, "pk", None) and hasattr(actor, "get_username") else None
    if client is None and obj is not None:
        client = getattr(obj, "client", None) if not isinstance(obj, Client) else obj
    return AuditEvent.objects.create(
        actor=user,
        actor_label=label(actor)[:200],
        action=action,
        object_type=(obj._meta.model_name or "") if obj is not None else "",
        object_id=str(obj.pk) if obj is not None else "",
        object_label=str(obj)[:300] if obj is not None else "",
        client=client if isinstance(client, Client) else None,
        address=address,
        before=scrub(before),
        after=scrub(after),
        detail=detail[:1000],
    )
