"""platform.migrate-sites: plan a batch migrate of every installed site of the platform to
another (hosting.batches) and start its first migrates. Args: {"target": id, "max_failures": n}.

One short step: the batch goes on by itself afterwards (each child's end advances it), so this
task does not hold a worker while hundreds of sites move. Run twice (its worker lost), it finds
the batch it planned and plans nothing new."""
from __future__ import annotations

from hosting import batches
from hosting.engine.steps import Context, Plan
from hosting.models import Platform, Task
from hosting.operations.common import step
from provision.errors import ProvisionError


def _args(task: Task) -> tuple[int, int | None]:
    args = task.args or {}
    try:
        target = int(args["target"])
        limit = args.get("max_failures")
        return target, (int(limit) if limit not in (None, "") else None)
    except (KeyError, TypeError, ValueError):
        raise ProvisionError('A batch migrate needs its target: args {"target": <platform id>}.') from None


def plan_batch(ctx: Context) -> None:
    target_id, limit = _args(ctx.task)
    source = Platform.objects.select_related("server").get(pk=int(ctx.task.platform_id or 0))
    target = Platform.objects.filter(pk=target_id).first()
    if target is None or target.status != Platform.ENABLED:
        raise ProvisionError("The target platform is not enabled (or gone).")
    if target.pk == source.pk or target.server_id != source.server_id:
        raise ProvisionError("The target must be another platform of the same server.")
    with ctx.recording():
        batch = batches.create(ctx.task, target, limit)
    ctx.set_flag("batch", batch.pk)
    ctx.info(f"Batch #{batch.pk}: {batch.items.count()} site(s) to move from {source.name} to {target.name}; "
             f"it stops after {batch.failure_limit} failure(s).")
    started = batches.advance(batch.pk)
    ctx.info(f"Started migrates: {', '.join(f'#{pk}' for pk in started) or 'none'}.")


def batch_plan(task: Task) -> Plan:
    return Plan([step("plan", plan_batch, label="Plan the batch and start its first migrates")])
