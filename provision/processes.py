"""Process plumbing for provision.runner: the processes, pipes and reader threads of one run,
and killing a whole process tree. Programs are run through Runner only; the engine's fence
(hosting.engine.fence) also waits for a killed tree with wait_dead()."""
from __future__ import annotations

import collections
import os
import queue
import signal
import subprocess
import threading
import time
from collections.abc import Callable
from typing import IO, BinaryIO

import psutil

from provision.errors import ProvisionError

MAX_LINE = 4000  # characters of one logged line; the rest of a runaway line is dropped
_READ_LIMIT = 16 * 1024  # bytes read per readline(), so a line with no newline stays bounded
_CHUNK = 1024 * 1024
_TAIL_LINES = 20
_PIPE_DRAIN = 2.0  # seconds to wait for pipes held open by a detached process after exit
_EOF = None


class Job:
    """The processes, pipes and reader threads of one run()/pipeline() call."""

    def __init__(self, commands: list[list[str]], *, redact: Callable[[str], str],
                 log: Callable[[str, str], None]) -> None:
        self.redact = redact
        self.log = log
        self.commands = commands
        self.names = [os.path.basename(c[0]) for c in commands]
        self.procs: list[subprocess.Popen[bytes]] = []
        self.lines: queue.Queue[tuple[str, int, bytes | None]] = queue.Queue(maxsize=10000)
        self.open_streams = 0
        self.tails = [collections.deque[str](maxlen=_TAIL_LINES) for _ in commands]
        self.stdout_tail = collections.deque[str](maxlen=_TAIL_LINES)
        self.copy_error: BaseException | None = None
        self.threads: list[threading.Thread] = []

    def start(self, *, cwd: str | os.PathLike[str] | None, env: dict[str, str],
              stdin: BinaryIO | bytes | None, stdout: BinaryIO | None) -> None:
        previous: IO[bytes] | None = None
        for index, argv in enumerate(self.commands):
            last = index == len(self.commands) - 1
            first_in: int | IO[bytes] = subprocess.DEVNULL if stdin is None else subprocess.PIPE
            try:
                # start_new_session: the child leads a new process group, so killpg reaches
                # everything it starts, and a Ctrl-C meant for the worker does not reach it.
                proc = subprocess.Popen(
                    argv, cwd=cwd, env=env, start_new_session=True,
                    stdin=first_in if previous is None else previous,
                    stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                )
            except FileNotFoundError:
                self.kill(0.5)
                where = f" in {cwd}" if cwd and not os.path.isdir(cwd) else ""
                raise ProvisionError(f"{self.names[index]} could not be started{where}: "
                                     "it is not installed or not on PATH.") from None
            except PermissionError:
                self.kill(0.5)
                raise ProvisionError(f"{self.names[index]} could not be started: "
                                     "permission denied (is it executable?).") from None
            if previous is not None:
                previous.close()  # the next stage holds it now; closing ours lets SIGPIPE work
            self.procs.append(proc)
            if index == 0 and stdin is not None:
                self._thread(_feed, self, stdin, proc.stdin)
            self._thread(_read_lines, self, "stderr", index, proc.stderr)
            if not last:
                previous = proc.stdout
            elif stdout is not None:
                self._thread(_copy_out, self, proc.stdout, stdout)
            else:
                self._thread(_read_lines, self, "stdout", index, proc.stdout)

    def _thread(self, target: Callable[..., None], *args: object) -> None:
        if target is not _feed:
            self.open_streams += 1
        thread = threading.Thread(target=target, args=args, daemon=True)
        thread.start()
        self.threads.append(thread)

    def pump(self, wait: float, level: str) -> bool:
        """Log lines for up to WAIT seconds. Returns False when no stream is open any more."""
        give_up = time.monotonic() + wait
        while self.open_streams:
            try:
                stream, index, data = self.lines.get(timeout=max(0.0, give_up - time.monotonic()))
            except queue.Empty:
                return True
            if data is _EOF:
                self.open_streams -= 1
                continue
            self._emit(stream, index, data, level)
            if time.monotonic() >= give_up:
                return True
        return False

    def _emit(self, stream: str, index: int, data: bytes, level: str) -> None:
        text = data.decode("utf-8", errors="replace").rstrip("\r\n")
        # Kept whole (a line is at most _READ_LIMIT bytes) and redacted when a message is made.
        (self.tails[index] if stream == "stderr" else self.stdout_tail).append(text)
        text = self.redact(text)  # before capping, so a cut cannot split a secret
        if len(text) > MAX_LINE:
            text = text[:MAX_LINE] + " [line truncated]"
        if len(self.commands) > 1 and stream == "stderr":
            text = f"{self.names[index]}: {text}"
        self.log(level, text)

    def all_exited(self) -> bool:
        """True once every stage has exited. The leader is not reaped here yet, so its pid
        (and so its process group id) cannot be reused while we clean the group up."""
        return all(exited(p) for p in self.procs)

    def finish(self, level: str) -> None:
        """Every stage has exited: kill what they left behind in their groups, reap, and log
        the rest of the output."""
        for proc in self.procs:
            # A child that exits leaving `something &` behind would leave an orphan: the task's
            # processes end with the task. Killing the group while the leader is an unreaped
            # zombie is safe: its pid, and so the group id, cannot have been reused.
            signal_group(proc.pid, signal.SIGKILL)
            proc.wait()
        give_up = time.monotonic() + _PIPE_DRAIN
        while self.open_streams and time.monotonic() < give_up:
            self.pump(give_up - time.monotonic(), level)
        if self.open_streams:
            self.log("warning", f"{self.names[-1]} left a detached process holding its output "
                                "open; stopped reading it.")
        for thread in self.threads:
            thread.join(timeout=_PIPE_DRAIN if not self.open_streams else 0)

    def kill(self, grace: float) -> None:
        for proc in self.procs:
            if proc.returncode is None:
                kill_tree(proc.pid, grace=grace)
        for proc in self.procs:
            try:
                proc.wait(timeout=grace + 1)
            except subprocess.TimeoutExpired:
                pass

    def close(self) -> None:
        for proc in self.procs:
            for pipe in (proc.stdin, proc.stdout, proc.stderr):
                if pipe is not None and not self.open_streams:
                    try:
                        pipe.close()
                    except OSError:
                        pass


def _feed(job: Job, source: BinaryIO | bytes, sink: IO[bytes] | None) -> None:
    """Write the child's stdin; a child that stops reading (exits early) is not our error."""
    assert sink is not None
    view = memoryview(source) if isinstance(source, (bytes, bytearray, memoryview)) else None
    offset = 0
    while True:
        try:
            if view is not None:
                chunk: bytes | memoryview = view[offset:offset + _CHUNK]
                offset += len(chunk)
            else:
                chunk = source.read(_CHUNK)  # type: ignore[union-attr]
        except BaseException as exc:  # noqa: BLE001 - handed to the supervising thread
            # The child's stdin stays open: closing it would make a half-read dump look like a
            # whole one to a child that then exits 0. The supervisor kills it instead.
            job.copy_error = job.copy_error or exc
            return
        if not chunk:
            break
        try:
            sink.write(chunk)
        except (BrokenPipeError, ValueError, OSError):
            break  # the child closed its stdin or was killed
    try:
        sink.close()
    except OSError:
        pass


def _read_lines(job: Job, stream: str, index: int, pipe: IO[bytes] | None) -> None:
    assert pipe is not None
    try:
        continued = False
        while line := pipe.readline(_READ_LIMIT):
            if not continued:
                job.lines.put((stream, index, line))
            # A line longer than the read limit: log its start once and drop the rest.
            continued = not line.endswith(b"\n")
    except (OSError, ValueError):
        pass
    finally:
        job.lines.put((stream, index, _EOF))


def _copy_out(job: Job, pipe: IO[bytes] | None, sink: BinaryIO) -> None:
    assert pipe is not None
    try:
        while chunk := pipe.read1(_CHUNK):  # type: ignore[attr-defined]
            if job.copy_error is not None:
                continue  # keep draining, so the child is not stuck on a full pipe until killed
            try:
                sink.write(chunk)
            except BaseException as exc:  # noqa: BLE001 - handed to the supervising thread
                job.copy_error = exc
    except (OSError, ValueError):
        pass  # the pipe was closed under us: the run is over
    finally:
        job.lines.put(("stdout", len(job.commands) - 1, _EOF))


def exited(proc: subprocess.Popen[bytes]) -> bool:
    if proc.returncode is not None:
        return True
    try:
        # WNOWAIT: look without reaping, so the pid stays ours until finish() has killed the
        # rest of its process group.
        info = os.waitid(os.P_PID, proc.pid, os.WEXITED | os.WNOHANG | os.WNOWAIT)
    except ChildProcessError:
        return proc.poll() is not None
    return info is not None


def signal_group(pgid: int, sig: signal.Signals) -> None:
    if pgid <= 1 or pgid == os.getpgrp():
        return  # never our own group: that would be the worker itself
    try:
        os.killpg(pgid, sig)
    except (ProcessLookupError, PermissionError):
        pass


def kill_tree(pid: int, *, grace: float = 3.0) -> list[int]:
    """Kill PID, all its descendants and everything left in its process group: SIGTERM first,
    SIGKILL after GRACE seconds for whatever survives. Returns the pids that were signalled.
    Never raises for processes that are already gone."""
    if pid <= 1 or pid == os.getpid():
        return []
    targets: dict[int, psutil.Process] = {}
    try:
        leader = psutil.Process(pid)
        targets[pid] = leader
        for child in leader.children(recursive=True):
            targets[child.pid] = child
    except psutil.Error:
        pass
    try:
        pgid = os.getpgid(pid)
    except OSError:
        pgid = pid  # the leader is gone; its group may live on in re-parented grandchildren
    own = {os.getpid(), *(p.pid for p in psutil.Process().parents())}
    if pgid == pid and pgid != os.getpgrp():
        # Re-parented grandchildren are no one's descendants any more, but still in the group.
        for proc in psutil.process_iter():
            try:
                if proc.pid not in own and os.getpgid(proc.pid) == pgid:
                    targets.setdefault(proc.pid, proc)
            except (OSError, psutil.Error):
                continue
    for own_pid in own:
        targets.pop(own_pid, None)
    # Collected first, signalled after: a parent killed first can no longer name its children.
    if pgid == pid:
        signal_group(pgid, signal.SIGTERM)
    for proc in targets.values():
        try:
            proc.send_signal(signal.SIGTERM)
        except psutil.Error:
            pass
    alive = wait_dead(list(targets.values()), grace)
    if pgid == pid:
        signal_group(pgid, signal.SIGKILL)
    for proc in alive:
        try:
            proc.kill()
        except psutil.Error:
            pass
    wait_dead(alive, 1.0)
    return sorted(targets)


def wait_dead(procs: list[psutil.Process], timeout: float) -> list[psutil.Process]:
    """Wait until every process is gone or a zombie; returns those still alive. A zombie is
    dead for our purpose: it holds no resources, and its parent (us, or init) will reap it.
    (psutil.wait_procs waits for re-parented zombies until init reaps them, which in a
    container can take a second or more.)"""
    give_up = time.monotonic() + timeout
    delay = 0.005
    while True:
        alive = [p for p in procs if running(p)]
        if not alive or time.monotonic() >= give_up:
            return alive
        time.sleep(min(delay, max(0.0, give_up - time.monotonic())))
        delay = min(delay * 2, 0.1)
        procs = alive


def running(proc: psutil.Process) -> bool:
    try:
        return proc.is_running() and proc.status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False
