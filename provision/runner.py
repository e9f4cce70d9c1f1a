"""The one way provision/ runs a program (DESIGN §4, properties 4 and 5).

Every child starts in its own session (so in its own process group), its output is streamed line
by line into the task log with secrets redacted, and the whole tree is killed on cancel, timeout,
deadline or worker shutdown. Nothing holds a whole output in memory: stdout is either logged line
by line or copied in chunks into a file, and only the last few stderr lines are kept for the error
message.

A program inherits nothing of the worker's environment but PATH, the locale (LANG, LANGUAGE,
LC_*), TZ and TMPDIR: drush runs the client's PHP, and the worker's environment holds the control
database's URL, the secret key and the mail and Redis URLs. HOME is an empty private directory of
Harbormaster's (not the worker's, with its ~/.my.cnf and ~/.pgpass), and the rest is what the
Runner (the task's mark) and the call (a password for that one program) pass explicitly."""
from __future__ import annotations

import collections
import logging
import os
import re
import shlex
import signal
import stat
import subprocess
import tempfile
import threading
import time
import urllib.parse
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import BinaryIO

from provision.errors import Cancelled, ProvisionError, TimedOut
from provision.processes import MAX_LINE, Job, kill_tree

__all__ = ["MAX_LINE", "LogFn", "Runner", "kill_tree"]

LogFn = Callable[[str, str], None]

_MAX_MESSAGE = 4000
# Environment variables whose values are secrets whoever sets them (MYSQL_PWD, PGPASSWORD, ...).
_SECRET_ENV = re.compile(r"PASS|PWD|SECRET|TOKEN", re.IGNORECASE)

# The only variables a program takes from the worker's environment (module docstring).
INHERITED = frozenset({"PATH", "LANG", "LANGUAGE", "TZ", "TMPDIR"})

_logger = logging.getLogger("provision.runner")


def child_environment(home: str, *layers: Mapping[str, str] | None) -> dict[str, str]:
    """The environment of a program: the allowlisted part of the worker's, HOME, then LAYERS."""
    env = {k: v for k, v in os.environ.items() if k in INHERITED or k.startswith("LC_")}
    env["HOME"] = home
    for layer in layers:
        env.update(layer or {})
    return env


def default_home() -> str:
    return os.path.join(tempfile.gettempdir(), f"harbormaster-home-{os.getuid()}")


def private_home(path: str | os.PathLike[str]) -> str:
    """PATH as a directory only this user can enter (made if missing); refused if it is a link or
    belongs to someone else, who could then plant a ~/.my.cnf or drush config in it."""
    path = os.fspath(path)
    try:
        os.mkdir(path, 0o700)
    except FileExistsError:
        pass
    except OSError as exc:
        raise ProvisionError(f"The programs' home {path} cannot be made: {exc.strerror}.") from None
    info = os.lstat(path)
    if stat.S_ISLNK(info.st_mode) or not stat.S_ISDIR(info.st_mode):
        raise ProvisionError(f"The programs' home {path} is a link or not a directory: refusing it.")
    if info.st_uid != os.getuid():
        raise ProvisionError(f"The programs' home {path} belongs to another user: refusing it.")
    if info.st_mode & 0o077:
        os.chmod(path, 0o700)
    return path


def _default_log(level: str, line: str) -> None:
    _logger.log(getattr(logging, level.upper(), logging.INFO), "%s", line)


class Runner:
    """Runs programs for one task. Not shared between threads, except kill_all()."""

    def __init__(
        self,
        log: LogFn | None = None,
        *,
        should_stop: Callable[[], str | None] | None = None,
        deadline: float | None = None,
        secrets: Iterable[str] = (),
        env: Mapping[str, str] | None = None,
        home: str | None = None,
        poll: float = 0.2,
        kill_grace: float = 3.0,
    ) -> None:
        self.log: LogFn = log if log is not None else _default_log
        self.should_stop = should_stop
        self.deadline = deadline
        self.env = dict(env or {})
        self.home = home or default_home()
        self.poll = poll
        self.kill_grace = kill_grace
        self._secrets: set[str] = set()
        for value in secrets:
            self.add_secret(value)
        self._live: dict[int, subprocess.Popen[bytes]] = {}
        self._live_lock = threading.Lock()
        self._shutdown: str | None = None

    # -- secrets -------------------------------------------------------------------------

    def add_secret(self, value: str) -> None:
        """Redact VALUE (and its URL-quoted form, as it appears in a --db-url) from now on."""
        if not value:
            return  # an empty secret would "redact" between every character
        self._secrets.add(value)
        quoted = urllib.parse.quote(value, safe="")
        if quoted != value:
            self._secrets.add(quoted)

    def redact(self, text: str) -> str:
        # Longest first, so a secret that contains another is replaced whole.
        for secret in sorted(self._secrets, key=len, reverse=True):
            if secret in text:
                text = text.replace(secret, "[secret]")
        return text

    # -- stopping ------------------------------------------------------------------------

    def check_stop(self) -> None:
        """Raise Cancelled or TimedOut if the task should stop now (for long Python loops)."""
        reason = self._stop_reason()
        if reason is not None:
            raise reason

    def _stop_reason(self, *, deadline: bool = True) -> ProvisionError | None:
        if self._shutdown is not None:
            return Cancelled(self._shutdown)
        if self.should_stop is not None:
            reason = self.should_stop()
            if reason:
                return Cancelled(self.redact(reason))
        if deadline and self.deadline is not None and time.monotonic() >= self.deadline:
            return TimedOut("The task ran past its deadline and was stopped.")
        return None

    def kill_all(self, reason: str = "The worker is shutting down; the task was stopped.") -> None:
        """Kill every process tree this runner started and has not reaped. Safe from another
        thread or a signal handler: a run() in progress then raises Cancelled(reason)."""
        self._shutdown = reason
        with self._live_lock:
            pids = list(self._live)
        for pid in pids:
            kill_tree(pid, grace=self.kill_grace)

    # -- running -------------------------------------------------------------------------

    def run(
        self,
        argv: Sequence[str],
        *,
        cwd: str | os.PathLike[str] | None = None,
        env: Mapping[str, str] | None = None,
        stdin: BinaryIO | bytes | None = None,
        stdout: BinaryIO | None = None,
        timeout: float | None = None,
        check: bool = True,
        quiet: bool = False,
    ) -> int:
        """Run ARGV and return its exit code (see the module docstring for the guarantees)."""
        return self._execute([argv], cwd=cwd, env=env, stdin=stdin, stdout=stdout,
                             timeout=timeout, check=check, quiet=quiet)[0]

    def pipeline(
        self,
        argvs: Sequence[Sequence[str]],
        *,
        cwd: str | os.PathLike[str] | None = None,
        env: Mapping[str, str] | None = None,
        stdin: BinaryIO | bytes | None = None,
        stdout: BinaryIO | None = None,
        timeout: float | None = None,
        check: bool = True,
        quiet: bool = False,
    ) -> list[int]:
        """Run `a | b | c` without a shell; returns every stage's exit code."""
        if isinstance(argvs, (str, bytes)) or not argvs:
            raise TypeError("pipeline() takes a non-empty list of argument lists.")
        return self._execute(list(argvs), cwd=cwd, env=env, stdin=stdin, stdout=stdout,
                             timeout=timeout, check=check, quiet=quiet)

    def _execute(self, argvs: list[Sequence[str]], *, cwd: str | os.PathLike[str] | None,
                 env: Mapping[str, str] | None, stdin: BinaryIO | bytes | None,
                 stdout: BinaryIO | None, timeout: float | None, check: bool,
                 quiet: bool) -> list[int]:
        commands = [_argv(a) for a in argvs]
        self.check_stop()
        child_env = child_environment(private_home(self.home), self.env, env)
        for key, value in {**self.env, **(env or {})}.items():
            if _SECRET_ENV.search(key):
                self.add_secret(value)
        level = "debug" if quiet else "info"
        self.log(level, self.redact("$ " + " | ".join(shlex.join(c) for c in commands)))

        started = time.monotonic()
        job = Job(commands, redact=self.redact, log=self.log)
        try:
            job.start(cwd=cwd, env=child_env, stdin=stdin, stdout=stdout)
            with self._live_lock:
                self._live.update((p.pid, p) for p in job.procs)
            self._supervise(job, started, timeout, level)
        finally:
            with self._live_lock:
                for proc in job.procs:
                    self._live.pop(proc.pid, None)
            job.close()
        codes = [p.returncode for p in job.procs]
        if check:
            failed = _failed_stage(codes, job.tails)
            if failed is not None:
                raise ProvisionError(self._failure(job, failed, codes[failed]))
        return codes

    def _supervise(self, job: Job, started: float, timeout: float | None, level: str) -> None:
        """Pump output into the log until every stage has exited, checking every `poll`
        seconds whether to stop. On any way out but a normal exit the trees are killed."""
        ends = [t for t in (self.deadline, started + timeout if timeout is not None else None)
                if t is not None]
        end = min(ends) if ends else None
        next_check = time.monotonic()
        finished = False
        try:
            while True:
                now = time.monotonic()
                if now >= next_check:
                    next_check = now + self.poll
                    # Asked first: a tree killed by kill_all() has exited, but did not succeed.
                    # The deadline is checked below, where the message can name the program.
                    stop = self._stop_reason(deadline=False)
                    if stop is None and job.all_exited():
                        break
                    if stop is None and end is not None and now >= end:
                        stop = TimedOut(f"{' | '.join(job.names)} ran past its deadline of "
                                        f"{_secs(end - started)} s and was killed.")
                    if stop is None and job.copy_error is not None:
                        stop = self._copy_failure(job)
                    if stop is not None:
                        job.kill(self.kill_grace)
                        raise stop
                if not job.pump(min(self.poll, max(0.0, next_check - time.monotonic())), level):
                    # Every pipe is closed: the children are exiting; look again soon, not in `poll`.
                    if job.all_exited():
                        break
                    time.sleep(0.005)
            if self._shutdown is not None:
                raise Cancelled(self._shutdown)
            finished = True
        finally:
            if not finished:
                job.kill(self.kill_grace)
        job.finish(level)
        if job.copy_error is not None:
            raise self._copy_failure(job)

    def _copy_failure(self, job: Job) -> ProvisionError:
        error = job.copy_error
        detail = str(error) or type(error).__name__
        return ProvisionError(f"Streaming data to or from {' | '.join(job.names)} failed: "
                              f"{self.redact(detail)}")

    def _failure(self, job: Job, stage: int, code: int) -> str:
        lines = list(job.tails[stage]) or list(job.stdout_tail)
        detail = self.redact("\n".join(line.rstrip() for line in lines if line.strip())).strip()
        if len(detail) > _MAX_MESSAGE:
            detail = "..." + detail[-_MAX_MESSAGE:]
        what = f"exit code {code}"
        if code < 0:
            try:
                what += f" (killed by {signal.Signals(-code).name})"
            except ValueError:
                pass
        return f"{job.names[stage]} failed with {what}: {detail}" if detail else \
            f"{job.names[stage]} failed with {what} and printed no error."


def _argv(argv: Sequence[str]) -> list[str]:
    if isinstance(argv, (str, bytes)):
        # The string is not echoed: it may hold a password.
        raise TypeError("Runner takes an argument list, never a shell string.")
    args = [os.fspath(a) for a in argv]
    if not args:
        raise TypeError("Runner was given an empty argument list.")
    if not all(isinstance(a, str) for a in args):
        raise TypeError("Every argument must be text.")
    if any("\x00" in a for a in args):
        raise ProvisionError(f"An argument of {os.path.basename(args[0])} contains a NUL byte.")
    return args


def _failed_stage(codes: list[int], tails: list[collections.deque[str]]) -> int | None:
    """The stage to blame: the first that failed on its own. A stage killed by SIGPIPE, or
    complaining of a broken pipe, only failed because a later one stopped reading."""
    failed = [i for i, c in enumerate(codes) if c != 0]
    own = [i for i in failed if codes[i] != -signal.SIGPIPE
           and not any("broken pipe" in line.lower() for line in tails[i])]
    blamed = own or failed
    return blamed[0] if blamed else None


def _secs(value: float) -> str:
    return f"{round(value, 1):g}" if value < 100 else str(round(value))

