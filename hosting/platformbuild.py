"""Platforms built from Git: recording a build and starting it (panel, API, command line and the
incoming webhook all call `start_build` or `next_build`), and the webhook's checks.

A build is a Platform record (status queued, with its repository, ref and the name of its secret)
and a `platform.build` task on it, written in one transaction through hosting.starting.start_task:
a refused start writes neither. The task (hosting.operations.platform_build) clones, runs
composer, verifies and records the commit; when it fails, its undo removes the checkout and the
record, so a failed build leaves nothing behind but its task and audit trail."""
from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction

from hosting import audit
from hosting.actor import Actor
from hosting.inventory import InventoryError, local_server
from hosting.models import Platform, Server, Task
from hosting.models.fields import validate_node_name
from hosting.operations.common import roots
from hosting.refused import TaskRefused
from provision import gitrepo
from provision.errors import ProvisionError, UnsafePath

__all__ = ["ProvisionError", "next_build", "on_push", "start_build"]

SIGNATURE_HEADER = "X-Harbormaster-Signature"  # as the outgoing webhooks (hosting.notify)


def build_dir() -> Path:
    return Path(settings.HARBORMASTER_PLATFORM_BUILD_DIR or Path(settings.HARBORMASTER_DATA_DIR) / "platforms")


def secrets_dir() -> Path:
    return Path(settings.HARBORMASTER_GIT_SECRETS_DIR or Path(settings.HARBORMASTER_DATA_DIR) / "git-secrets")


def protocols() -> tuple[str, ...]:
    return tuple(p for p in settings.HARBORMASTER_GIT_PROTOCOLS if p in gitrepo.KNOWN_PROTOCOLS)


def check_source(repository: str, ref: str) -> tuple[str, str]:
    """REPOSITORY and REF as a build records them, or InventoryError saying why not."""
    try:
        source = gitrepo.check_url(repository, protocols=protocols(), roots=roots())
        return source.url, gitrepo.check_ref(ref)
    except ProvisionError as exc:
        raise InventoryError(str(exc)) from None


def check_secret(name: str) -> str:
    if name and name not in gitrepo.list_secrets(secrets_dir()):
        raise InventoryError(f"No secret named {name!r} in the Git secrets directory.")
    return name


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")


def derived_name(repository: str, ref: str) -> str:
    """A free platform name after the repository and the ref ("shop-v1-2-0", "shop-main-2")."""
    stem = _slug(re.sub(r"\.git$", "", repository.rstrip("/").rsplit("/", 1)[-1].rsplit(":", 1)[-1])) or "platform"
    base = f"{stem[:30]}-{_slug(ref.removeprefix('refs/heads/').removeprefix('refs/tags/'))[:24]}".strip("-")
    base = base if base[:1].isalpha() else f"p-{base}"
    name, n = base, 1
    while not _name_free(name):
        n += 1
        name = f"{base}-{n}"
    return name


def _name_free(name: str) -> bool:
    taken = Platform.objects.exclude(status=Platform.DELETED).filter(name=name).exists()
    return not taken and not (build_dir() / name).exists()


def _checkout_path(name: str) -> str:
    try:
        base = roots().inside(build_dir(), allow_root=False)
        path = roots().inside(gitrepo.checkout_name(base, name))
    except (UnsafePath, ProvisionError) as exc:
        raise InventoryError(f"The platform build directory is not usable: {exc}") from None
    if path.exists() or path.is_symlink():
        raise InventoryError(f"{path} exists already: choose another name.")
    if Platform.objects.exclude(status=Platform.DELETED).filter(path=str(path)).exists():
        raise InventoryError(f"A platform at {path} exists already.")
    return str(path)


def start_build(by: Actor, *, repository: str, ref: str, name: str = "", secret: str = "",
                server: Server | None = None, webhook: bool = False, source: Platform | None = None,
                address: str | None = None) -> tuple[Platform, Task]:
    """Record a platform to build from REPOSITORY at REF and start its build task. NAME defaults
    to one after the repository and the ref. Raises InventoryError (bad input) or what
    start_task raises (PermissionDenied, TaskRefused); nothing is written then."""
    from hosting.starting import start_task

    repository, ref = check_source(repository, ref)
    secret = check_secret(secret)
    server = server or (source.server if source is not None else None) or local_server()
    with transaction.atomic():
        if name:
            try:
                validate_node_name(name)
            except ValidationError as exc:
                raise InventoryError(f"Bad platform name: {' '.join(exc.messages)}") from None
            if not _name_free(name):
                raise InventoryError(f"A platform named {name!r} exists already.")
        else:
            name = derived_name(repository, ref)
        hook = (source.webhook_secret if source is not None else "") or \
            (secrets.token_hex(32) if webhook else "")
        platform = Platform.objects.create(
            name=name, server=server, path=_checkout_path(name), repository=repository, git_ref=ref,
            git_secret=secret, webhook_secret=hook)
        if source is not None:
            platform.clients.set(source.clients.all())
        audit.record(by, "platform.build", platform, address=address,
                     after={"name": name, "repository": repository, "ref": ref, "secret": secret or None,
                            "from": source.name if source is not None else None})
        task = start_task(by, platform, "build", {}, address=address)
    return platform, task


def next_build(by: Actor, platform: Platform, ref: str, *, name: str = "",
               address: str | None = None) -> tuple[Platform, Task]:
    """Build the next version of PLATFORM's repository from REF as a new platform."""
    if not platform.repository:
        raise TaskRefused(f"Platform {platform.name} was not built from a repository.")
    if platform.status == Platform.DELETED:
        raise TaskRefused(f"Platform {platform.name} is deleted.")
    return start_build(by, repository=platform.repository, ref=ref, name=name, secret=platform.git_secret,
                       source=platform, address=address)


def queued_build(repository: str, ref: str) -> Task | None:
    """A build of REPOSITORY at REF that has not started yet (a second one would build the same)."""
    return (Task.objects.filter(target_type="platform", kind="build", state=Task.QUEUED,
                                platform__repository=repository, platform__git_ref=ref)
            .order_by("pk").first())


def built_commit(repository: str, commit: str) -> Platform | None:
    """A live platform already built from COMMIT of REPOSITORY."""
    if not re.fullmatch(r"[0-9a-f]{40}", commit or ""):
        return None
    return (Platform.objects.exclude(status=Platform.DELETED)
            .filter(repository=repository, git_commit=commit).order_by("pk").first())


# -- the incoming webhook --------------------------------------------------------------------

def sign(secret: str, body: bytes) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def signature_valid(secret: str, body: bytes, given: str) -> bool:
    return bool(secret) and hmac.compare_digest(sign(secret, body).encode(), (given or "").strip().encode())


def pushed_ref(payload: dict[str, Any]) -> str:
    """The branch or tag a push payload names ("ref": "refs/heads/main" as GitHub, GitLab and
    Gitea send it, or plain "main")."""
    ref = payload.get("ref")
    if not isinstance(ref, str):
        raise InventoryError("The payload names no ref.")
    return ref.removeprefix("refs/heads/").removeprefix("refs/tags/")


def on_push(platform: Platform, payload: dict[str, Any]) -> tuple[str, Task | None]:
    """Queue the build a signed push asks for, unless it is already built or queued. Returns
    (what happened in words, the new task or None)."""
    ref = gitrepo.check_ref(pushed_ref(payload))
    if payload.get("deleted") is True:
        return f"{ref} was deleted: nothing to build.", None
    after = payload.get("after")
    after = after if isinstance(after, str) else ""
    # One push at a time per platform: two deliveries at once must not both find no queued build
    # (the row lock on PostgreSQL; SQLite's immediate transactions serialise writers).
    with transaction.atomic():
        Platform.objects.select_for_update().filter(pk=platform.pk).first()
        done = built_commit(platform.repository, after)
        if done is not None:
            return f"Commit {after} is built already as platform {done.name}.", None
        waiting = queued_build(platform.repository, ref)
        if waiting is not None:
            return f"A build of {ref} is queued already (task {waiting.pk}).", None
        _new, task = next_build("webhook", platform, ref)
    return f"Build of {ref} queued as task {task.pk}.", task
