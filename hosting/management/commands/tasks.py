"""`manage.py tasks list|show|log|create|cancel|force-stop|retry|resume|skip|abort|force-unlock|export|clear|prune`.

Every control goes through hosting.controls, as the panel's buttons do, audited as the
command line ("cli:<login>"); `create` and `retry` start tasks through hosting.starting, held to
the panel's refusals, argument forms and typed confirmation of a delete (`--arg confirm=NAME`,
`retry ID --confirm NAME`). The controls are hosting.controls.CONTROLS, named as in the panel
and the API; "stop" and "unlock", their former names, still work and say so. Bad input exits
non-zero with a message, never a traceback.

`--json` prints what the API answers, through the API's own functions (hosting.api.tasks): a
task of `show` is GET /api/v1/tasks/{id}, each of `list` an item of GET /api/v1/tasks, `log` is
GET /api/v1/tasks/{id}/log; times as hosting.machine writes them."""
from __future__ import annotations

import sys
import time
from typing import Any

from django.conf import settings
from django.core.exceptions import PermissionDenied
from django.core.management.base import BaseCommand, CommandError, CommandParser

from hosting import controls, csvsafe
from hosting import prune as prune_module
from hosting.api.tasks import log_out, task_json
from hosting.machine import TASK_CSV_FIELDS, iso, task_csv_rows
from hosting.management import taskcli
from hosting.models import Task
from hosting.refused import TaskRefused
from hosting.starting import ArgumentsInvalid, start_task

MAX_LOG = 10_000_000  # a task keeps at most HARBORMASTER_TASK_LOG_MAX_LINES: in effect, all of them
# Former names of controls: still accepted, with a notice.
DEPRECATED = {"stop": "force-stop", "unlock": "force-unlock"}
ID_HELP = "The task's id (42 or #42)."


class Command(BaseCommand):
    help = "List, inspect, create and control tasks."

    def add_arguments(self, parser: CommandParser) -> None:
        sub = parser.add_subparsers(dest="action", required=True)
        ls = sub.add_parser("list", help="List tasks, newest first.")
        ls.add_argument("--state", choices=[s for s, _ in Task.STATES], help="Only tasks in this state.")
        ls.add_argument("--site", metavar="DOMAIN", help="Only the tasks of this site.")
        ls.add_argument("--limit", type=int, default=50, help="At most this many (default 50).")
        ls.add_argument("--json", action="store_true", help="A JSON list of tasks as the API gives them.")
        show = sub.add_parser("show", help="One task with its steps and log.")
        show.add_argument("id", help=ID_HELP)
        show.add_argument("--json", action="store_true", help="The task as the API gives it (its log: `tasks log`).")
        log = sub.add_parser("log", help="A task's log lines.")
        log.add_argument("id", help=ID_HELP)
        log.add_argument("--after", type=int, default=-1, metavar="POSITION", help="Only lines after this one.")
        log.add_argument("--json", action="store_true", help="As the API's /tasks/{id}/log (all lines).")
        create = sub.add_parser("create", help="Queue a task and print its id.")
        create.add_argument("type", help="backup, verify, ... (or site.backup)")
        create.add_argument("--site", metavar="DOMAIN", help="The target: a site.")
        create.add_argument("--platform", metavar="NAME", help="The target: a platform.")
        create.add_argument("--server", metavar="NAME", help="The target: a server.")
        create.add_argument("--arg", action="append", default=[], metavar="KEY=VALUE",
                            help="An argument of the task (repeatable); a value that reads as JSON is taken as such.")
        create.add_argument("--wait", action="store_true", help="Wait for it; exit non-zero unless it succeeds.")
        create.add_argument("--timeout", type=float, default=0, help="With --wait: give up after this many seconds.")
        for control in controls.CONTROLS.values():
            parser_ = sub.add_parser(control.name, help=control.help)
            if control.on_lock:
                parser_.add_argument("key", help="site:42, platform:3, ...")
            else:
                parser_.add_argument("id", help=ID_HELP)
            if control.name == "retry":
                parser_.add_argument("--confirm", metavar="NAME",
                                     help="To retry a delete: the domain or platform name.")
        for old, new in DEPRECATED.items():
            on_lock = controls.CONTROLS[new].on_lock
            sub.add_parser(old, help=f"Deprecated: {new}.").add_argument(
                "key" if on_lock else "id", help="site:42, platform:3, ..." if on_lock else ID_HELP)
        export = sub.add_parser("export", help="Export tasks as CSV.")
        export.add_argument("--csv", required=True, metavar="FILE", help="A file, or - for standard output.")
        export.add_argument("--state", choices=[s for s, _ in Task.STATES], help="Only tasks in this state.")
        clear = sub.add_parser("clear", help="Delete the history of finished tasks.")
        clear.add_argument("--all", action="store_true", help="Every task, also queued, running and paused.")
        clear.add_argument("--force", action="store_true", help="Required with --all.")
        clear.add_argument("--batch", type=int, default=prune_module.BATCH, metavar="N",
                           help=f"Rows deleted per transaction (default {prune_module.BATCH}).")
        prune = sub.add_parser("prune", help="Delete finished tasks (steps, log) older than the retention, "
                                             "in small batches.")
        prune.add_argument("--older-than", type=int, metavar="DAYS",
                           help="Days since they finished (default: HARBORMASTER_TASK_RETENTION_DAYS).")
        prune.add_argument("--dry-run", action="store_true", help="Count what would go; delete nothing.")
        prune.add_argument("--batch", type=int, default=prune_module.BATCH, metavar="N",
                           help=f"Rows deleted per transaction (default {prune_module.BATCH}).")

    def handle(self, *args: object, action: str, **options: Any) -> None:
        if action in DEPRECATED:
            self.stderr.write(f"Notice: `tasks {action}` is now `tasks {DEPRECATED[action]}`; the old name will go.")
            action = DEPRECATED[action]
        try:
            if action == "force-unlock":
                self.force_unlock(str(options["key"]))
            elif action in controls.TASK_CONTROLS:
                self.control(action, str(options["id"]), options.get("confirm"))
            else:
                getattr(self, f"do_{action}")(options)
        except (controls.ControlRefused, TaskRefused, ArgumentsInvalid, PermissionDenied, ValueError) as exc:
            raise CommandError(str(exc)) from None

    def do_list(self, options: dict) -> None:
        qs = Task.objects.select_related("created_by").order_by("-created_at", "-id")
        if options["state"]:
            qs = qs.filter(state=options["state"])
        if options["site"]:
            qs = qs.filter(site__domain=options["site"])
        tasks = list(qs[: max(1, int(options["limit"]))])
        if options["json"]:
            self.stdout.write(taskcli.as_json([task_json(taskcli.actor(), t, detail=False) for t in tasks]))
            return
        rows = []
        for task in tasks:
            r = taskcli.row(task)
            note = task.waiting_reason if task.state == Task.QUEUED else task.summary
            rows.append([r["id"], r["type"], r["target"], r["state"], r["created"], note])
        self.stdout.write(taskcli.table(["ID", "TYPE", "TARGET", "STATE", "CREATED", "NOTE"], rows))

    def do_show(self, options: dict) -> None:
        task = taskcli.get_task(str(options["id"]))
        if options["json"]:
            self.stdout.write(taskcli.as_json(task_json(taskcli.actor(), task)))
        else:
            self.stdout.write(taskcli.show_text(taskcli.describe(task)))

    def do_log(self, options: dict) -> None:
        task = taskcli.get_task(str(options["id"]))
        data = log_out(task, int(options["after"]), limit=MAX_LOG)
        if options["json"]:
            self.stdout.write(taskcli.as_json(data))
        else:
            for line in data["lines"]:
                self.stdout.write(f"{iso(line['at'])} {line['level']:7} {line['line']}")

    def do_create(self, options: dict) -> None:
        target = taskcli.find_target(options["site"], options["platform"], options["server"])
        kind = taskcli.kind_for(target, str(options["type"]))
        task = start_task(taskcli.actor(), target, kind, taskcli.parse_args(options["arg"]))
        self.stdout.write(str(task.pk))
        if options["wait"]:
            self.wait(task, float(options["timeout"] or 0))

    def wait(self, task: Task, timeout: float) -> None:
        give_up = time.monotonic() + timeout if timeout > 0 else None
        while True:
            task.refresh_from_db()
            if task.is_final or task.state == Task.PAUSED:
                break
            if give_up is not None and time.monotonic() >= give_up:
                raise CommandError(f"Task {task.pk} is still {task.state} after {timeout:g} s.")
            time.sleep(0.2)
        self.stderr.write(f"Task {task.pk} {task.state}: {task.summary}")
        if task.state not in (Task.SUCCEEDED, Task.WARNING):
            raise CommandError(f"Task {task.pk} ended {task.state}.")

    def control(self, action: str, value: str, confirm: str | None = None) -> None:
        task = taskcli.get_task(value)
        if action == "retry":
            result = controls.retry(task, by=taskcli.actor(), confirm=confirm)
        else:
            result = controls.TASK_CONTROLS[action].run(task, by=taskcli.actor())
        if action == "retry":
            self.stdout.write(f"Task {task.pk} retried as task {result.pk}")
        else:
            self.stdout.write(f"Task {result.pk}: {result.state}"
                              + (" (cancel requested)" if result.cancel_requested else ""))

    def force_unlock(self, key: str) -> None:
        lock = controls.force_unlock(key, by=taskcli.actor())
        self.stderr.write(f"Warning: {controls.UNLOCK_WARNING}")
        self.stdout.write(f"Removed lock {lock.key} held by task {lock.task_id}")

    def do_export(self, options: dict) -> None:
        qs = Task.objects.order_by("id")
        if options["state"]:
            qs = qs.filter(state=options["state"])
        path = str(options["csv"])
        if path == "-":
            count = csvsafe.write(sys.stdout, TASK_CSV_FIELDS, task_csv_rows(qs))
        else:
            try:
                with open(path, "w", newline="", encoding="utf-8") as out:
                    count = csvsafe.write(out, TASK_CSV_FIELDS, task_csv_rows(qs))
            except OSError as exc:
                raise CommandError(f"Cannot write {path}: {exc.strerror}") from None
        self.stderr.write(f"Exported {count} tasks.")

    def do_clear(self, options: dict) -> None:
        if options["all"] and not options["force"]:
            raise CommandError("--all deletes queued, running and paused tasks too; add --force if you mean it.")
        if options["batch"] < 1:
            raise CommandError("--batch takes at least 1 row.")
        # In batches, as the pruner deletes: one DELETE of a million tasks would hold the
        # database's write lock while every worker waits to log or claim.
        result = prune_module.clear(options["all"], batch=options["batch"])
        self.stdout.write(f"Deleted {result.tasks} tasks ({result.steps:,} steps, {result.log_lines:,} log lines) "
                          f"in {result.transactions:,} transactions (longest {result.longest * 1000:.0f} ms).")

    def do_prune(self, options: dict) -> None:
        days = options["older_than"]
        if days is None:
            days = int(settings.HARBORMASTER_TASK_RETENTION_DAYS)
            if days <= 0:
                raise CommandError("HARBORMASTER_TASK_RETENTION_DAYS is 0 (keep forever); give --older-than DAYS.")
        if days < 1 or options["batch"] < 1:
            raise CommandError("--older-than takes at least 1 day and --batch at least 1 row.")
        result = prune_module.prune(days, batch=options["batch"], dry_run=options["dry_run"])
        if result.tasks and not options["dry_run"]:
            prune_module.record(taskcli.actor(), result)
        self.stdout.write(prune_module.summary(result, dry_run=options["dry_run"]))
