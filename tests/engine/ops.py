"""Scripted operations for the engine's tests: every task type runs the steps its args describe,
as real shell scripts through the Runner, so that kills, deadlines and orphans are real.

args = {"steps": [{"name": "copy", "sh": "sleep 30", "undo": "echo undo", "reversible": true}],
        "record": "/tmp/.../record.txt", "locks": ["site:99"]}
Every script may call `rec WORD`, which appends "WORD task step pid time" to the record file:
the tests read it to prove what ran, when, and that nothing ran twice at once."""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

from hosting.catalogue import TYPES
from hosting.engine.steps import Context, Plan, Step
from hosting.models import Task

PRELUDE = (
    'rec() { if [ -n "$HM_RECORD" ]; then '
    'echo "$1 $HM_TASK $HM_STEP $$ $(date +%s.%N)" >> "$HM_RECORD"; fi; }\n'
)


def _script(name: str, script: str, record: str, warn: str = "") -> Callable[[Context], None]:
    def run(ctx: Context) -> None:
        env = {"HM_TASK": str(ctx.task.pk), "HM_STEP": name, "HM_RECORD": record,
               "HM_ATTEMPT": str(ctx.task.attempt)}
        ctx.runner.run(["sh", "-c", PRELUDE + script], env=env)
        ctx.state.setdefault("ran", []).append(name)
        if warn:
            ctx.warning(warn)
    return run




def scripted(task: Task) -> Plan:
    args: dict[str, Any] = task.args or {}
    if args.get("broken"):
        raise RuntimeError("this plan cannot be built")
    record = str(args.get("record", ""))
    spec = args.get("steps") or [{"name": "work", "sh": f"sleep {float(args.get('sleep', 0))}"}]
    steps = []
    for item in spec:
        undo = item.get("undo")
        steps.append(Step(
            name=item["name"],
            run=_script(item["name"], item.get("sh", "true"), record, item.get("warn", "")),
            undo=_script(item["name"] + ":undo", undo, record) if undo is not None else None,
            reversible=item.get("reversible", True),
        ))
    return Plan(steps=steps, extra_locks=list(args.get("locks", [])))


OPERATIONS = {key: scripted for key in TYPES}
