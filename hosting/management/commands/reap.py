"""`manage.py reap`: one pass of what every qcluster does by itself (hosting/engine/daemon.py):
settle lost tasks, hand queued tasks whose message was lost to the broker again, kill this
host's leftover task processes. Prints what it did."""
from __future__ import annotations

from django.core.management.base import BaseCommand, CommandParser

from hosting.engine import reconcile
from hosting.engine.daemon import sweep
from hosting.engine.reaper import Reaper
from hosting.engine.routing import cluster_queue


class Command(BaseCommand):
    help = "Settle lost tasks, re-dispatch queued tasks whose message was lost, kill leftover processes."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--queue", help="The queue whose tasks may be rolled back and re-dispatched "
                                            "here (default: this host's, Q_CLUSTER_NAME or HARBORMASTER_QUEUE).")

    def handle(self, *args: object, **options: object) -> None:
        queue = str(options.get("queue") or cluster_queue())
        reaper = Reaper(queue, report=lambda line: self.stdout.write(line))
        settled = reaper.reap_all()
        reaper.wait()
        sent = reconcile.reconcile(queue)
        killed = sweep()
        self.stdout.write(f"Lost tasks settled: {settled}.")
        self.stdout.write(f"Queued tasks handed to queue {queue} again: {len(sent)}"
                          + (f" ({', '.join(f'#{i}' for i in sent)})." if sent else "."))
        self.stdout.write(f"Leftover processes killed: {len(killed)}"
                          + (f" ({', '.join(map(str, killed))})." if killed else "."))
