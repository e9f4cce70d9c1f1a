"""Off-site replication throughput to an SFTP remote against `rclone copy` of the same directory
run by hand, in the same run on the same data.

Builds a site of --files files totalling --size-mb (half incompressible, half text; see
_setup.fill_files), backs it up once into a store (provision.backup.create_incremental), starts
a private sshd on 127.0.0.1 (its own host key and an authorized key, as the tests do) and, for
--rounds rounds, alternately:

- ours: provision.offsite.replicate_dir of the site's store into a new, empty remote folder
  (what server.replicate runs: a listing of the remote, a per-run 0600 config, two `rclone copy
  --files-from` passes: data first, then what names it);
- by hand: `rclone copy STORE sf:FOLDER` into another new folder, the remote given by
  RCLONE_CONFIG_SF_* variables (the recipe in shared/recipes/remotes.md), with rclone's defaults;

then the same two again with nothing new to copy (the cost of a replication after a backup
that changed nothing; the by-hand copy with its default checks of size and modification time).

    .venv/bin/python bench/offsite_replication.py --size-mb 512 --files 4000 --rounds 3

Everything is made in a temporary directory (or under --dir) and removed at the end; sshd is
stopped.
"""
from __future__ import annotations

import argparse
import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path

from _setup import fill_files, median, timed

from provision import offsite
from provision.backup import create_incremental
from provision.runner import Runner


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start_sshd(base: Path) -> tuple[subprocess.Popen[bytes], int]:
    base.mkdir(parents=True)
    for name in ("host_key", "client_key"):
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(base / name)], check=True)
    shutil.copy(base / "client_key.pub", base / "authorized_keys")
    port = free_port()
    (base / "sshd_config").write_text(
        f"Port {port}\nListenAddress 127.0.0.1\nHostKey {base / 'host_key'}\n"
        f"AuthorizedKeysFile {base / 'authorized_keys'}\nPasswordAuthentication no\nPidFile {base / 'pid'}\n"
        "StrictModes no\nSubsystem sftp internal-sftp\nUsePAM no\n")
    os.makedirs("/run/sshd", exist_ok=True)
    proc = subprocess.Popen(["/usr/sbin/sshd", "-D", "-f", str(base / "sshd_config"), "-E", str(base / "log")])
    for _ in range(100):
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return proc, port
        except OSError:
            time.sleep(0.1)
    raise SystemExit("sshd did not start")


def spread(times: list[float]) -> str:
    return (f"median {median(times):6.2f} s (min {min(times):.2f}, max {max(times):.2f}; runs: "
            f"{', '.join(f'{t:.2f}' for t in times)})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size-mb", type=int, default=512)
    parser.add_argument("--files", type=int, default=4000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--dir", type=Path, default=None)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="hm-bench-offsite-", dir=args.dir))
    sshd = None
    try:
        site = work / "site"
        fill_files(site / "files", args.size_mb << 20, args.files)
        (site / "settings.php").write_text("<?php\n")
        store = work / "backups" / "bench.example.com"
        create_incremental(domain="bench.example.com", site_dir=site, dest_dir=store,
                           runner=Runner(lambda level, line: None), db_driver=None, db_name=None,
                           follow_files_symlink=True)
        stored = sum(p.stat().st_size for p in store.rglob("*") if p.is_file())
        sshd, port = start_sshd(work / "sshd")
        user = pwd.getpwuid(os.getuid()).pw_name
        remote_root = work / "remote"
        remote_root.mkdir()
        key = (work / "sshd" / "client_key").read_text()
        host_key = " ".join((work / "sshd" / "host_key.pub").read_text().split()[:2])
        remote = offsite.Remote.make("bench", "sftp", {"host": "127.0.0.1", "port": str(port), "user": user,
                                                       "path": str(remote_root), "host_key": host_key},
                                     {"private_key": key})
        env = {**os.environ, "RCLONE_CONFIG_SF_TYPE": "sftp", "RCLONE_CONFIG_SF_HOST": "127.0.0.1",
               "RCLONE_CONFIG_SF_PORT": str(port), "RCLONE_CONFIG_SF_USER": user,
               "RCLONE_CONFIG_SF_KEY_FILE": str(work / "sshd" / "client_key")}
        runner = Runner(lambda level, line: None)
        ours, hand, ours_again, hand_again = [], [], [], []
        for n in range(args.rounds):
            with offsite.session(remote) as session:
                ours.append(timed(lambda n=n, s=session: offsite.replicate_dir(s, store, f"ours{n}",
                                                                               "bench.example.com", runner)))
                ours_again.append(timed(lambda n=n, s=session: offsite.replicate_dir(s, store, f"ours{n}",
                                                                                     "bench.example.com", runner)))
            argv = ["rclone", "copy", str(store), f"sf:{remote_root}/hand{n}/bench.example.com"]
            hand.append(timed(lambda a=argv: subprocess.run(a, env=env, check=True)))
            hand_again.append(timed(lambda a=argv: subprocess.run(a, env=env, check=True)))
        mb = stored / (1 << 20)
        print(f"store: {mb:.0f} MiB in {sum(1 for p in store.rglob('*') if p.is_file())} files "
              f"(site: {args.size_mb} MiB in {args.files} files), {args.rounds} rounds, SFTP on 127.0.0.1")
        print(f"ours, first replication:   {spread(ours)}  {mb / median(ours):.0f} MiB/s")
        print(f"rclone copy by hand:       {spread(hand)}  {mb / median(hand):.0f} MiB/s")
        print(f"ratio ours/by hand (time): {median(ours) / median(hand):.2f}")
        print(f"ours, nothing new:         {spread(ours_again)}")
        print(f"rclone copy, nothing new:  {spread(hand_again)}")
    finally:
        if sshd is not None:
            sshd.send_signal(signal.SIGTERM)
            sshd.wait(5)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
