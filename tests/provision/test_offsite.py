"""provision.offsite against a real sshd and a real S3 endpoint: replication copies only what the
remote lacks, a backup comes back byte for byte into an empty store, a tampered remote copy is
refused, remote names and paths cannot become options or leave their folder, and the secrets
live only in a 0600 file of a 0700 directory that is gone after the run."""
from __future__ import annotations

import os
import shutil
import stat
import threading
import time
from pathlib import Path

import pytest

from provision import offsite
from provision.backup import verify_backup
from provision.errors import ProvisionError
from provision.offsite import remote as remotes
from provision.offsite.transfer import local_files
from provision.runner import Runner
from tests.offsite_servers import S3, Sftp, s3_remote, sftp_remote  # noqa: F401  (fixtures)
from tests.provision.test_backup_packs import backup, make_files

LOG: list[str] = []


def runner() -> Runner:
    return Runner(lambda level, line: LOG.append(line))


def sftp(remote: Sftp, name: str = "far") -> offsite.Remote:
    return offsite.Remote.make(name, "sftp", remote.options(), {"private_key": remote.private_key})


def test_it_replicates_only_what_the_remote_lacks_and_fetches_a_backup_back(tmp_path: Path, sftp_remote: Sftp) -> None:
    site, dest = tmp_path / "site", tmp_path / "backups" / "example.com"
    make_files(site, 40)
    first = backup(site, dest)
    remote = sftp(sftp_remote)
    with offsite.session(remote) as session:
        done = offsite.replicate_dir(session, dest, "web1", "example.com", runner())
        assert done.files > 0 and first.path.name in done.archives
        again = offsite.replicate_dir(session, dest, "web1", "example.com", runner())
        assert again.files == 0 and again.bytes == 0
        (site / "files" / "new.txt").write_text("one more file")
        second = backup(site, dest)
        more = offsite.replicate_dir(session, dest, "web1", "example.com", runner())
        assert 2 <= more.files <= 4  # a pack, its .idx and the archive: not the whole store again
        on_remote = sftp_remote.root / "web1" / "example.com"
        data, names = local_files(dest, None)
        for name, size in {**data, **names}.items():
            assert (on_remote / name).stat().st_size == size
        assert not (on_remote / "objects" / "index.json").exists()
        assert offsite.listing(session, "web1", runner())["example.com"].keys() == {first.path.name, second.path.name}

        shutil.rmtree(tmp_path / "backups")  # the disaster
        empty = tmp_path / "backups" / "example.com"
        path = offsite.fetch_backup(session, "web1", "example.com", empty, second.path.name, second.sha256, runner())
        assert verify_backup(path)["domain"] == "example.com"
        assert not [p for p in empty.iterdir() if p.name.startswith(".fetch-")]


def test_it_refuses_a_remote_copy_that_is_not_the_backup_made(tmp_path: Path, sftp_remote: Sftp) -> None:
    site, dest = tmp_path / "site", tmp_path / "b" / "example.com"
    make_files(site, 5)
    made = backup(site, dest)
    with offsite.session(sftp(sftp_remote)) as session:
        offsite.replicate_dir(session, dest, "web1", "example.com", runner())
        copy = sftp_remote.root / "web1" / "example.com" / made.path.name
        copy.write_bytes(copy.read_bytes()[:-1] + b"\0")
        with pytest.raises(ProvisionError, match="sha256 differs"):
            offsite.fetch_backup(session, "web1", "example.com", tmp_path / "other", made.path.name, made.sha256,
                                 runner())
        # A pack changed on the remote is caught before the store takes it.
        copy.unlink()
        offsite.replicate_dir(session, dest, "web1", "example.com", runner())
        for pack in (sftp_remote.root / "web1" / "example.com" / "objects" / "packs").glob("*.pack"):
            raw = bytearray(pack.read_bytes())
            raw[len(raw) // 2] ^= 0xFF
            pack.write_bytes(bytes(raw))
        with pytest.raises(ProvisionError):
            offsite.fetch_backup(session, "web1", "example.com", tmp_path / "other", made.path.name, made.sha256,
                                 runner())
        assert not list((tmp_path / "other").glob("*.tar.zst"))
        assert not (tmp_path / "other" / "objects" / "packs").exists() or \
            not list((tmp_path / "other" / "objects" / "packs").glob("*.idx"))


def test_it_replicates_to_s3_and_verifies_the_remote_copy(tmp_path: Path, s3_remote: S3) -> None:
    site, dest = tmp_path / "site", tmp_path / "b" / "example.com"
    make_files(site, 20)
    made = backup(site, dest)
    remote = offsite.Remote.make("bucket", "s3", s3_remote.options(), S3.secrets())
    LOG.clear()
    with offsite.session(remote) as session:
        done = offsite.replicate_dir(session, dest, "web1", "example.com", runner())
        assert made.path.name in done.archives
        assert offsite.replicate_dir(session, dest, "web1", "example.com", runner()).files == 0
        manifest = offsite.verify_remote_backup(session, "web1", "example.com", made.path.name, made.sha256,
                                                runner(), tmp_path)
        assert manifest["domain"] == "example.com"
    assert S3.secrets()["secret_access_key"] not in "\n".join(LOG)


@pytest.mark.parametrize(("options", "field"), [
    ({"path": "/srv/../etc"}, "path"),
    ({"path": "/srv/--config=/tmp/x"}, "path"),
    ({"path": "relative"}, "path"),
    ({"host": "-oProxyCommand=touch /tmp/pwned"}, "host"),
    ({"user": "--sftp-ask-password"}, "user"),
    ({"port": "22 --dump headers"}, "port"),
    ({"host_key": "not a key"}, "host_key"),
    ({"key_file": "/root/.ssh/id_rsa"}, "key_file"),
])
def test_it_refuses_sftp_options_that_could_escape_or_become_options(options: dict[str, str], field: str) -> None:
    base = {"host": "backup.example.net", "port": "22", "user": "hm", "path": "/srv/backups"}
    with pytest.raises(offsite.RemoteInvalid) as caught:
        offsite.check_remote("far", "sftp", {**base, **options}, {"password": "pw"})
    assert caught.value.field == field


@pytest.mark.parametrize("name", ["../x", "-x", "--config", "a/b", "Far", "", "x" * 70])
def test_it_refuses_remote_names_that_are_not_plain(name: str) -> None:
    with pytest.raises(offsite.RemoteInvalid):
        offsite.check_remote(name, "s3", {"bucket": "hm-backups"}, S3.secrets())


def test_it_refuses_s3_options_outside_their_shape() -> None:
    for options in ({"bucket": "../b"}, {"bucket": "hm", "path": "a/../b"}, {"bucket": "hm-b", "endpoint": "file:///etc"},
                    {"bucket": "hm-b", "region": "us east"}, {"bucket": "hm-b\nprovider = x"}):
        with pytest.raises(offsite.RemoteInvalid):
            offsite.check_remote("s", "s3", options, S3.secrets())
    with pytest.raises(ProvisionError):
        offsite.Remote.make("s", "s3", {"bucket": "hm-b"}, S3.secrets()).under("..")


def test_its_secrets_live_in_a_private_file_never_on_a_command_line(tmp_path: Path) -> None:
    secret = "pw-7f3e9a1c55d0"
    remote = offsite.Remote.make("far", "sftp", {"host": "127.0.0.1", "user": "hm", "path": "/srv"},
                                 {"password": secret, "private_key": "-----BEGIN OPENSSH PRIVATE KEY-----\nx\n"
                                                                     "-----END OPENSSH PRIVATE KEY-----"})
    assert secret not in repr(remote)
    with remotes.session(remote, parent=str(tmp_path)) as session:
        directory = Path(session.directory)
        assert stat.S_IMODE(directory.stat().st_mode) == 0o700
        for name in ("rclone.conf", "key"):
            assert stat.S_IMODE((directory / name).stat().st_mode) == 0o600
        config = (directory / "rclone.conf").read_text()
        assert secret not in config and remotes.obscure(secret) != remotes.obscure(secret)  # obscured, salted
        argv = session.argv("lsf", remote.under("web1"))
        assert not any(secret in a or "PRIVATE" in a for a in argv)
        assert argv[argv.index("--") + 1] == "remote:/srv/web1"
    assert not directory.exists()


def test_the_secret_never_shows_in_ps_while_rclone_runs(tmp_path: Path, s3_remote: S3) -> None:
    import psutil

    site, dest = tmp_path / "site", tmp_path / "b" / "example.com"
    make_files(site, 60, size=20000)
    backup(site, dest)
    remote = offsite.Remote.make("bucket", "s3", s3_remote.options(), S3.secrets())
    seen: list[str] = []
    stop = threading.Event()

    def watch() -> None:
        while not stop.is_set():
            for proc in psutil.process_iter(["cmdline", "environ"]):
                line = " ".join(proc.info.get("cmdline") or [])
                if "rclone" in line:
                    seen.append(line + " " + " ".join(f"{k}={v}" for k, v in (proc.info.get("environ") or {}).items()))
            time.sleep(0.01)

    watcher = threading.Thread(target=watch)
    watcher.start()
    try:
        with offsite.session(remote) as session:
            offsite.replicate_dir(session, dest, "web1", "example.com", runner())
    finally:
        stop.set()
        watcher.join()
    assert seen, "rclone was never seen running"
    for line in seen:
        for secret in S3.secrets().values():
            assert secret not in line
    assert os.environ.get("AWS_CA_BUNDLE") is None or "AWS_CA_BUNDLE" not in " ".join(seen)


def test_a_fetch_repairs_objects_the_local_store_found_damaged(tmp_path: Path, sftp_remote: Sftp) -> None:
    site, dest = tmp_path / "site", tmp_path / "b" / "example.com"
    make_files(site, 10)
    made = backup(site, dest)
    with offsite.session(sftp(sftp_remote)) as session:
        offsite.replicate_dir(session, dest, "web1", "example.com", runner())
        for pack in (dest / "objects" / "packs").glob("*.pack"):
            raw = bytearray(pack.read_bytes())
            raw[len(raw) // 2] ^= 0xFF
            pack.write_bytes(bytes(raw))
        with pytest.raises(ProvisionError):
            verify_backup(made.path)  # finds and marks the damage
        offsite.fetch_backup(session, "web1", "example.com", dest, made.path.name, made.sha256, runner())
    assert verify_backup(made.path)["domain"] == "example.com"
