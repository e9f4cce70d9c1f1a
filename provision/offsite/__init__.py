"""Off-site copies of the backup store through rclone (decisions.md, "Off-site replication").

provision.offsite.remote: what a remote is (sftp or s3, its options checked, its secrets kept
apart) and the per-run rclone configuration (0600 file in a 0700 directory, removed after).
provision.offsite.transfer: replicate a site's store directory, list what a remote holds, fetch
one backup back into the local store, and read a remote copy back to verify it."""
from __future__ import annotations

from provision.offsite.remote import KINDS, Remote, RemoteInvalid, Session, check_remote, session
from provision.offsite.transfer import Replicated, fetch_backup, listing, replicate_dir, verify_remote_backup

__all__ = ["KINDS", "Remote", "RemoteInvalid", "Replicated", "Session", "check_remote", "fetch_backup",
           "listing", "replicate_dir", "session", "verify_remote_backup"]
