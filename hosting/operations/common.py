"""What every task type needs: the configured roots, and `step()`, which builds an engine Step
with the two habits every operation shares:

- A step that fails by itself cleans up after itself (the engine undoes only completed steps,
  and the interrupted one only when it was stopped from outside): `step()` runs the step's own
  undo when its run raises an ordinary error. Undos are therefore written to be idempotent and
  to act only on what `ctx.state` says was done.
- Fault injection for the rollback tests: settings.HARBORMASTER_FAULTS maps a task type to the
  step name (or list of names) before which a ProvisionError("injected fault ...") is raised,
  e.g. {"site.migrate": "updatedb"}. Unset in production; read on every step, so a test can set
  it with pytest-django's `settings` fixture.
"""
from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from django.conf import settings
from django.db.models import Model, QuerySet

from hosting.engine.steps import Context, Step
from provision.errors import Cancelled, ProvisionError, TimedOut
from provision.paths import Roots

Run = Callable[[Context], None]
M = TypeVar("M", bound=Model)


def roots() -> Roots:
    return Roots([Path(r) for r in settings.HARBORMASTER_ROOTS])


def target_rows(model: type[M], pk: int | None) -> QuerySet[M]:
    """The row PK of MODEL (a task's site_id, platform_id or server_id) as a queryset, empty
    when PK is None (the task's target record was deleted): get() raises DoesNotExist and
    update() changes nothing, as with filter(pk=None)."""
    manager = model._default_manager
    return manager.filter(pk=pk) if pk is not None else manager.none()


def injected_fault(ctx: Context, name: str) -> None:
    """Raise before step NAME if settings.HARBORMASTER_FAULTS asks for it (tests only)."""
    faults = getattr(settings, "HARBORMASTER_FAULTS", None) or {}
    wanted = faults.get(f"{ctx.task.target_type}.{ctx.task.kind}")
    if wanted == name or (isinstance(wanted, (list, tuple, set)) and name in wanted):
        raise ProvisionError(f"injected fault before step {name}")


def step(name: str, run: Run, undo: Run | None = None, *, label: str = "", reversible: bool = True) -> Step:
    def guarded(ctx: Context) -> None:
        injected_fault(ctx, name)
        try:
            run(ctx)
        except (Cancelled, TimedOut):
            raise  # stopped from outside (cancel, deadline, shutdown): the engine undoes this step
        except Exception:
            if undo is not None:
                # A worker that lost the task (its program was killed by the reaper that took
                # it over) must not clean up over the reaper's rollback: Lost ends it here.
                ctx.check_owned()
                _clean_up(ctx, name, undo)
            raise

    return Step(name, guarded, undo, label=label, reversible=reversible)


def _clean_up(ctx: Context, name: str, undo: Run) -> None:
    try:
        undo(ctx)
        ctx.save_state()
    except Exception as exc:  # noqa: BLE001 - the step's own error is the one to report
        ctx.error(f"Cleaning up after step {name} failed too: {exc}")


def flag(ctx: Context, key: str, value: object = True) -> None:
    """Record in the task's state that something was done, at once: an undo run by a reaper
    after this worker is lost knows only what was saved."""
    ctx.state[key] = value
    ctx.save_state()
