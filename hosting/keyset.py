"""Keyset pagination: a page of a long list found from the last row of the page before it (its
sort key, carried in an opaque cursor), never by OFFSET. OFFSET makes the database read and
discard every row before the page: the last page of 1,000,000 tasks read them all; a cursor
page reads only its own rows from the index, whatever its depth.

A cursor only narrows a queryset that is already scoped (hosting.access): whatever a caller
puts in it, it cannot reach rows the queryset does not hold. A cursor that is not one we made
(garbage, wrong types, another list's) is refused with CursorInvalid, never guessed at."""
from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.core.exceptions import FieldDoesNotExist
from django.db import models
from django.db.models import Q, QuerySet

from hosting.inputs import MAX_ID

MAX_CURSOR = 1000  # characters: a sort key of a few short values fits many times over
FORWARD, BACKWARD = "n", "p"


class CursorInvalid(ValueError):
    """The cursor was not made by this list."""


@dataclass
class KeysetPage:
    rows: list[Any]
    has_next: bool
    has_previous: bool
    next_cursor: str | None
    previous_cursor: str | None


def ordering(qs: QuerySet[Any]) -> list[tuple[models.Field, bool]]:
    """(field, descending) of QS's order, ending with the primary key so that the key is unique.
    Only the model's own concrete fields may be ordered on (not annotations or relations)."""
    names = list(qs.query.order_by) or list(qs.model._meta.ordering)
    meta = qs.model._meta
    pk = meta.pk
    assert pk is not None
    keys: list[tuple[models.Field, bool]] = []
    for name in names:
        if not isinstance(name, str):
            raise TypeError(f"keyset pagination orders by field names only, not {name!r}")
        descending = name.startswith("-")
        field = pk if name.lstrip("-") == "pk" else meta.get_field(name.lstrip("-"))
        if not isinstance(field, models.Field) or not field.concrete:
            raise TypeError(f"keyset pagination cannot order by {name!r}")
        keys.append((field, descending))
        if field is pk:
            break
    if not keys or keys[-1][0] is not pk:
        keys.append((pk, keys[-1][1] if keys else False))
    return keys


def cursor_after(qs: QuerySet[Any], row: Any) -> str | None:
    """The cursor of the page after ROW in QS's order (None if QS is ordered through a relation:
    such short lists, a client's members, are paged by number only)."""
    try:
        keys = ordering(qs)
    except (TypeError, FieldDoesNotExist):
        return None
    return encode(FORWARD, [getattr(row, f.attname) for f, _d in keys])


def _dump(value: Any) -> Any:
    return value.isoformat() if isinstance(value, datetime) else value


def _load(field: models.Field, value: Any) -> Any:
    """VALUE of FIELD as the cursor carried it, checked for the field's type."""
    if isinstance(field, models.DateTimeField):
        if not isinstance(value, str) or len(value) > 40:
            raise CursorInvalid("bad time")
        try:
            moment = datetime.fromisoformat(value)
        except ValueError:
            raise CursorInvalid("bad time") from None
        if moment.tzinfo is None:
            raise CursorInvalid("bad time")
        return moment
    if isinstance(field, (models.IntegerField, models.AutoField, models.ForeignKey)):
        if type(value) is not int or not 0 <= value <= MAX_ID:
            raise CursorInvalid("bad number")
        return value
    if isinstance(field, (models.CharField, models.TextField)):
        if not isinstance(value, str) or len(value) > 300:
            raise CursorInvalid("bad text")
        return value
    raise CursorInvalid("unsupported key")


def encode(direction: str, values: list[Any]) -> str:
    raw = json.dumps([direction, *map(_dump, values)], separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode(cursor: str, keys: list[tuple[models.Field, bool]]) -> tuple[str, list[Any]]:
    """(direction, key values) of CURSOR for a list ordered by KEYS; CursorInvalid if it is not one."""
    if not cursor or len(cursor) > MAX_CURSOR or not cursor.isascii():
        raise CursorInvalid("bad cursor")
    try:
        data = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
    except (binascii.Error, ValueError, RecursionError):  # RecursionError: "[[[[..." nested deep
        raise CursorInvalid("bad cursor") from None
    if not isinstance(data, list) or len(data) != len(keys) + 1 or data[0] not in (FORWARD, BACKWARD):
        raise CursorInvalid("bad cursor")
    return data[0], [_load(field, value) for (field, _desc), value in zip(keys, data[1:], strict=True)]


def _beyond(keys: list[tuple[models.Field, bool]], values: list[Any], forward: bool) -> Q:
    """Rows after VALUES in the order of KEYS (before them when not FORWARD): the lexicographic
    comparison, led by a plain range on the first key so that the index is walked from there."""
    def op(descending: bool, strict: bool) -> str:
        greater = descending != forward  # an ascending key's following rows are greater
        return ("gt" if greater else "lt") + ("" if strict else "e")

    either = Q()
    for i, (field, descending) in enumerate(keys):
        term = Q(**{f"{field.attname}__{op(descending, True)}": values[i]})
        for (before, _d), value in zip(keys[:i], values[:i], strict=True):
            term &= Q(**{before.attname: value})
        either |= term
    first, descending = keys[0]
    return Q(**{f"{first.attname}__{op(descending, False)}": values[0]}) & either


def page(qs: QuerySet[Any], cursor: str | None, per_page: int) -> KeysetPage:
    """The page of QS (ordered, already scoped) that CURSOR points at: the first without one.
    One query. Raises CursorInvalid for a cursor this list did not make."""
    try:
        keys = ordering(qs)
    except (TypeError, FieldDoesNotExist):
        if cursor:
            raise CursorInvalid("this list has no cursor") from None
        rows = list(qs[:per_page + 1])
        return KeysetPage(rows[:per_page], len(rows) > per_page, False, None, None)
    names = [("-" if d else "") + f.attname for f, d in keys]
    direction, values = decode(cursor, keys) if cursor else (FORWARD, [])
    forward = direction == FORWARD
    if values:
        qs = qs.filter(_beyond(keys, values, forward))
    if not forward:
        names = [n[1:] if n.startswith("-") else "-" + n for n in names]
    rows = list(qs.order_by(*names)[:per_page + 1])
    more = len(rows) > per_page
    rows = rows[:per_page]
    if not forward:
        rows.reverse()
    has_next = more if forward else bool(values)
    has_previous = bool(values) if forward else more

    def key(row: Any) -> list[Any]:
        return [getattr(row, f.attname) for f, _d in keys]

    return KeysetPage(rows, has_next, has_previous,
                      encode(FORWARD, key(rows[-1])) if has_next and rows else None,
                      encode(BACKWARD, key(rows[0])) if has_previous and rows else None)
