"""The runner with real subprocesses: streaming, errors, secrets, cancel, deadlines, pipelines."""
from __future__ import annotations

import io
import os
import signal
import sys
import threading
import time
from pathlib import Path

import psutil
import pytest

from provision.errors import Cancelled, ProvisionError, TimedOut
from provision.runner import Runner, kill_tree

PY = sys.executable


class Log:
    def __init__(self) -> None:
        self.entries: list[tuple[str, str]] = []

    def __call__(self, level: str, line: str) -> None:
        self.entries.append((level, line))

    @property
    def lines(self) -> list[str]:
        # The first line is the command itself ("$ ...").
        return [line for _level, line in self.entries if not line.startswith("$ ")]

    @property
    def text(self) -> str:
        return "\n".join(line for _level, line in self.entries)


def py(code: str) -> list[str]:
    return [PY, "-c", code]


def gone(pids: list[int]) -> bool:
    for pid in pids:
        try:
            proc = psutil.Process(pid)
            if proc.status() != psutil.STATUS_ZOMBIE:
                return False
        except psutil.NoSuchProcess:
            continue
    return True


def tree_of(pid: int) -> list[int]:
    proc = psutil.Process(pid)
    return [pid, *(c.pid for c in proc.children(recursive=True))]


def test_it_streams_lines_in_order_while_the_child_runs() -> None:
    seen_at: list[float] = []
    log = Log()

    def record(level: str, line: str) -> None:
        log(level, line)
        seen_at.append(time.monotonic())

    start = time.monotonic()
    code = "import sys,time\nfor i in range(3):\n print(f'line {i}', flush=True); time.sleep(0.3)"
    assert Runner(record, poll=0.05).run(py(code)) == 0
    assert log.lines == ["line 0", "line 1", "line 2"]
    # The first line reached the log long before the child finished: it was streamed.
    assert seen_at[1] - start < 0.5 < time.monotonic() - start


def test_it_logs_stderr_and_stdout_with_the_command_first() -> None:
    log = Log()
    Runner(log).run(py("import sys; print('out'); sys.stdout.flush(); print('err', file=sys.stderr)"))
    assert log.entries[0][1].startswith(f"$ {PY} -c")
    assert sorted(log.lines) == ["err", "out"]
    assert all(level == "info" for level, _ in log.entries)


def test_it_logs_quiet_runs_at_debug_level() -> None:
    log = Log()
    Runner(log).run(py("print('hush')"), quiet=True)
    assert {level for level, _ in log.entries} == {"debug"}


def test_it_writes_stdout_to_a_file_and_logs_only_stderr(tmp_path: Path) -> None:
    log = Log()
    target = tmp_path / "out.bin"
    code = "import sys; sys.stdout.buffer.write(bytes(range(256)) * 4096); print('note', file=sys.stderr)"
    with target.open("wb") as out:
        Runner(log).run(py(code), stdout=out)
    assert target.read_bytes() == bytes(range(256)) * 4096
    assert log.lines == ["note"]


def test_it_writes_stdout_to_an_in_memory_file_and_feeds_stdin() -> None:
    out = io.BytesIO()
    Runner(Log()).run(py("import sys; sys.stdout.write(sys.stdin.read().upper())"),
                      stdin=io.BytesIO(b"hello"), stdout=out)
    assert out.getvalue() == b"HELLO"
    out = io.BytesIO()
    Runner(Log()).run(["cat"], stdin=b"bytes too", stdout=out)
    assert out.getvalue() == b"bytes too"


def test_it_reports_the_exit_code_and_last_stderr_lines() -> None:
    code = ("import sys\nfor i in range(40): print(f'noise {i}', file=sys.stderr)\n"
            "print('disk full', file=sys.stderr); sys.exit(3)")
    with pytest.raises(ProvisionError) as info:
        Runner(Log()).run(py(code))
    message = str(info.value)
    assert message.startswith(f"{os.path.basename(PY)} failed with exit code 3: ")
    assert message.endswith("disk full")
    assert "noise 39" in message and "noise 5\n" not in message  # only the tail is kept


def test_it_returns_the_exit_code_when_not_checking() -> None:
    assert Runner(Log()).run(py("raise SystemExit(7)"), check=False) == 7


def test_it_redacts_secrets_in_logs_command_lines_and_errors() -> None:
    log = Log()
    runner = Runner(log, secrets=["hunter2"])
    runner.add_secret("s3cr3t/pw")
    code = ("import sys; print('pw=hunter2'); print('url=mysql://u:s3cr3t%2Fpw@h/db'); "
            "print('bad s3cr3t/pw', file=sys.stderr); sys.exit(1)")
    with pytest.raises(ProvisionError) as info:
        runner.run(py(code + " # hunter2"))
    assert "hunter2" not in log.text and "s3cr3t" not in log.text
    assert "pw=[secret]" in log.lines and "url=mysql://u:[secret]@h/db" in log.lines
    assert "hunter2" not in str(info.value) and "s3cr3t" not in str(info.value)
    assert "bad [secret]" in str(info.value)


def test_it_treats_password_environment_values_as_secrets() -> None:
    log = Log()
    Runner(log).run(py("import os; print(os.environ['MYSQL_PWD'])"), env={"MYSQL_PWD": "pa55word"})
    assert log.lines == ["[secret]"]


def test_it_rejects_a_shell_string() -> None:
    with pytest.raises(TypeError, match="argument list"):
        Runner(Log()).run("echo hello; rm -rf /")  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        Runner(Log()).pipeline("echo a | cat")  # type: ignore[arg-type]


def test_it_reports_a_missing_program_clearly() -> None:
    with pytest.raises(ProvisionError, match="no-such-program-xyz could not be started"):
        Runner(Log()).run(["no-such-program-xyz", "--help"])


def test_it_kills_a_tree_that_ignores_sigterm_on_cancel() -> None:
    started: list[int] = []
    stop = threading.Event()

    def should_stop() -> str | None:
        return "Cancelled by alice." if stop.is_set() else None

    runner = Runner(Log(), should_stop=should_stop, poll=0.05, kill_grace=0.5)
    result: dict[str, BaseException] = {}

    def work() -> None:
        try:
            runner.run(["sh", "-c", 'trap "" TERM; sleep 300 & sleep 300'])
        except BaseException as exc:  # noqa: BLE001
            result["error"] = exc

    thread = threading.Thread(target=work)
    thread.start()
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        with runner._live_lock:
            pids = list(runner._live)
        if pids and len(psutil.Process(pids[0]).children(recursive=True)) >= 2:
            started = tree_of(pids[0])
            break
        time.sleep(0.02)
    assert len(started) == 3, "the shell and its two sleeps should be running"
    stop.set()
    thread.join(10)
    assert isinstance(result.get("error"), Cancelled)
    assert str(result["error"]) == "Cancelled by alice."
    assert gone(started)


def test_it_kills_the_tree_past_the_deadline() -> None:
    runner = Runner(Log(), deadline=time.monotonic() + 0.5, poll=0.05, kill_grace=0.5)
    start = time.monotonic()
    with pytest.raises(TimedOut, match=r"^sh ran past its deadline of 0\.5 s and was killed\.$"):
        runner.run(["sh", "-c", "sleep 300 & sleep 300"])
    assert time.monotonic() - start < 3
    with pytest.raises(TimedOut):
        runner.run(["true"])  # the deadline has passed: nothing more starts
    with pytest.raises(TimedOut):
        runner.check_stop()


def test_it_kills_a_call_past_its_own_timeout() -> None:
    with pytest.raises(TimedOut, match="sleep ran past its deadline of 0.3 s"):
        Runner(Log(), poll=0.05).run(["sleep", "30"], timeout=0.3)


def test_it_kills_background_leftovers_when_the_child_exits() -> None:
    log = Log()
    Runner(log).run(["sh", "-c", "sleep 300 >/dev/null 2>&1 & echo $!"])
    leftover = int(log.lines[0])
    time.sleep(0.05)
    assert gone([leftover])


def test_it_runs_a_pipeline_without_a_shell(tmp_path: Path) -> None:
    out = io.BytesIO()
    codes = Runner(Log()).pipeline(
        [py("print('b'); print('a'); print('c')"), ["sort"], ["tr", "a-z", "A-Z"]], stdout=out)
    assert codes == [0, 0, 0]
    assert out.getvalue() == b"A\nB\nC\n"


def test_it_reports_the_failing_stage_of_a_pipeline() -> None:
    log = Log()
    with pytest.raises(ProvisionError) as info:
        Runner(log).pipeline([
            py("import sys\nfor i in range(100000): print(i)"),
            py("import sys; sys.stdin.readline(); print('bad input', file=sys.stderr); sys.exit(2)"),
        ])
    assert str(info.value).endswith("failed with exit code 2: bad input")
    assert any(line.endswith(": bad input") for line in log.lines)


def test_it_stops_the_whole_pipeline_on_cancel() -> None:
    runner = Runner(Log(), should_stop=lambda: "stop", poll=0.05, kill_grace=0.5)
    runner.should_stop = None
    seen: list[int] = []

    def should_stop() -> str | None:
        with runner._live_lock:
            seen[:] = list(runner._live)
        return "Stopped." if len(seen) == 2 else None

    runner.should_stop = should_stop
    with pytest.raises(Cancelled):
        runner.pipeline([["sleep", "300"], ["sleep", "300"]])
    assert gone(seen)


def test_it_kill_all_stops_a_running_call() -> None:
    runner = Runner(Log(), poll=0.05, kill_grace=0.5)
    threading.Timer(0.3, runner.kill_all).start()
    with pytest.raises(Cancelled, match="shutting down"):
        runner.run(["sleep", "300"])


def test_it_check_stop_raises_the_cancel_reason() -> None:
    Runner(Log()).check_stop()
    with pytest.raises(Cancelled, match="user asked"):
        Runner(Log(), should_stop=lambda: "user asked").check_stop()


def test_it_caps_runaway_lines() -> None:
    log = Log()
    Runner(log).run(py("print('x' * 100000); print('next')"))
    assert log.lines[0] == "x" * 4000 + " [line truncated]"
    assert log.lines[1] == "next"


def test_it_decodes_invalid_utf8_with_replacement() -> None:
    log = Log()
    Runner(log).run(py("import sys; sys.stdout.buffer.write(b'caf\\xe9\\n')"))
    assert log.lines == ["caf\ufffd"]


def test_it_kill_tree_never_raises_for_a_gone_process() -> None:
    proc = psutil.Popen(["true"])
    proc.wait()
    assert kill_tree(proc.pid, grace=0.1) == []


def test_it_kill_tree_kills_reparented_group_members() -> None:
    # The shell starts a grandchild in the background and exits: the grandchild is re-parented
    # but stays in the process group, where kill_tree still finds it.
    proc = psutil.Popen(["sh", "-c", "trap '' TERM; sleep 300 & echo $!; sleep 300"],
                        stdout=-1, start_new_session=True)
    grandchild = int(proc.stdout.readline())
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    killed = kill_tree(proc.pid, grace=0.2)
    assert grandchild in killed
    assert gone([grandchild])


class Broken(io.RawIOBase):
    """A stream that fails after a few reads or writes, like a corrupt archive or a full disk."""

    def __init__(self) -> None:
        self.calls = 0

    def readable(self) -> bool:
        return True

    def writable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:
        self.calls += 1
        if self.calls > 2:
            raise OSError("corrupt input")
        return b"line\n" * 10

    def write(self, data: bytes) -> int:  # type: ignore[override]
        raise OSError("No space left on device")


def test_it_fails_when_its_input_cannot_be_read() -> None:
    # The child must not see a clean end of input: `cat` would exit 0 on a half-read dump.
    with pytest.raises(ProvisionError, match="Streaming data to or from cat failed: corrupt input"):
        Runner(Log(), poll=0.05, kill_grace=0.5).run(["cat"], stdin=Broken(), stdout=io.BytesIO())


def test_it_fails_when_its_output_cannot_be_written() -> None:
    start = time.monotonic()
    with pytest.raises(ProvisionError, match="No space left on device"):
        Runner(Log(), poll=0.05, kill_grace=0.5).run(
            py("import sys\nfor i in range(10**6): sys.stdout.write('x' * 100 + '\\n')"), stdout=Broken())
    assert time.monotonic() - start < 5
