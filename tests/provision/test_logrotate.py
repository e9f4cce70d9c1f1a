"""deploy/logrotate-sites: logrotate reads it without an error (`-d`: nothing changed) and,
forced, rotates a site's log (copied, the live file truncated in place for the server)."""
from __future__ import annotations

import subprocess
from pathlib import Path

from tests.services import need_program

DEPLOY = Path(__file__).resolve().parents[2] / "deploy" / "logrotate-sites"


def config_for(tmp_path: Path) -> Path:
    logs = tmp_path / "vhosts" / "harbormaster-logs"
    logs.mkdir(parents=True)
    text = DEPLOY.read_text().replace("/var/lib/harbormaster/vhosts/harbormaster-logs", str(logs))
    text = text.replace("    su root root\n", "")  # the test's files are the test user's
    config = tmp_path / "logrotate.conf"
    config.write_text(text)
    return config


def test_logrotate_reads_it_and_rotates_a_sites_log(tmp_path: Path) -> None:
    binary = need_program("logrotate")
    config = config_for(tmp_path)
    log = tmp_path / "vhosts" / "harbormaster-logs" / "example.test.access.log"
    log.write_text("line 1\nline 2\n")
    state = tmp_path / "state"
    debug = subprocess.run([binary, "-d", "-s", str(state), str(config)], capture_output=True, text=True, timeout=30)
    assert debug.returncode == 0, debug.stderr
    assert "error" not in debug.stderr.lower() and "example.test.access.log" in debug.stderr + debug.stdout
    assert log.read_text() == "line 1\nline 2\n"  # -d changes nothing
    forced = subprocess.run([binary, "-f", "-s", str(state), str(config)], capture_output=True, text=True, timeout=30)
    assert forced.returncode == 0, forced.stderr
    assert log.exists() and log.read_text() == ""  # truncated in place: the server's handle stays good
    assert (log.parent / "example.test.access.log.1").read_text() == "line 1\nline 2\n"
