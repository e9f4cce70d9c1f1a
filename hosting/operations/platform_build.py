"""platform.build: a platform built from a Git repository (hosting.platformbuild records it).

prepare (the record, the URL, the ref and the checkout's path checked again) -> clone (the ref,
shallow; no symlink may lead outside the checkout) -> composer (`composer install --no-dev
--no-interaction` when the project has a composer.json; the links checked again) -> inspect and
check (the platform verify's own steps: docroot, Drupal version, profiles, sites/) -> record
(enabled, with the commit; older builds of the repository locked to new sites when
HARBORMASTER_LOCK_SUPERSEDED is set).

Undo: the checkout is removed and the record deleted, so a failed, cancelled or timed-out build
leaves nothing behind (the task keeps its log). Sites found in the checkout are not imported: a
new build starts empty, and its sites come by install or migrate."""
from __future__ import annotations

from pathlib import Path

from django.conf import settings
from django.utils import timezone

from hosting.engine.steps import Context, Plan
from hosting.models import Platform, Task
from hosting.operations import platform as verify
from hosting.operations.common import flag, roots, step, target_rows
from provision import gitrepo
from provision.errors import ProvisionError


def _platform(ctx: Context) -> Platform:
    return target_rows(Platform, ctx.task.platform_id).select_related("server").get()


def _paths() -> tuple[Path, Path]:
    from hosting.platformbuild import build_dir

    data = Path(settings.HARBORMASTER_DATA_DIR)
    return build_dir(), data


def prepare(ctx: Context) -> None:
    from hosting.platformbuild import protocols

    platform = _platform(ctx)
    if platform.status != Platform.QUEUED or platform.git_commit or not platform.repository:
        raise ProvisionError(f"Platform {platform.name} is not waiting for a build.")
    source = gitrepo.check_url(platform.repository, protocols=protocols(), roots=roots())
    gitrepo.check_ref(platform.git_ref)
    base, _data = _paths()
    dest = roots().inside(Path(platform.path), allow_root=False)
    if dest.parent != roots().inside(base, allow_root=False):
        raise ProvisionError(f"{dest} is not in the platform build directory {base}.")
    if dest.exists() or dest.is_symlink():
        raise ProvisionError(f"{dest} exists already; nothing was changed.")
    if platform.git_secret:
        _credential(ctx, platform)  # a missing secret fails here, before anything is made
    ctx.state.update({"dest": str(dest), "url": source.url})
    ctx.info(ctx.runner.redact(f"Building platform {platform.name} from {source.url} at {platform.git_ref} "
                               f"into {dest}."))


def _credential(ctx: Context, platform: Platform) -> gitrepo.Credential | None:
    """The clone's secret, read on the worker; a token is redacted from every line from now on."""
    from hosting.platformbuild import secrets_dir

    if not platform.git_secret:
        return None
    credential = gitrepo.read_secret(secrets_dir(), platform.git_secret)
    if credential.token:
        ctx.runner.add_secret(credential.token)
    return credential


def prepare_undo(ctx: Context) -> None:
    """No record is left of a build that did not finish: the task (its log) and the audit say it."""
    platform = target_rows(Platform, ctx.task.platform_id).first()
    if platform is None or platform.git_commit or platform.status != Platform.QUEUED:
        return
    if platform.sites.exists():
        ctx.warning(f"Platform {platform.name} has sites; its record is kept.")
        return
    with ctx.recording():
        Platform.objects.filter(pk=platform.pk, status=Platform.QUEUED, git_commit="").delete()
    ctx.info(f"The record of platform {platform.name} was removed.")


def clone(ctx: Context) -> None:
    from hosting.platformbuild import protocols

    platform = _platform(ctx)
    _base, data = _paths()
    base = roots().inside(Path(ctx.state["dest"]).parent, allow_root=False)
    base.mkdir(parents=True, exist_ok=True)
    credential = _credential(ctx, platform)
    allowed = protocols()
    env = gitrepo.git_environment(allowed, credential, askpass=gitrepo.write_askpass(data / "git"),
                                  known_hosts=data / "git" / "known_hosts")
    flag(ctx, "dir_made")
    commit = gitrepo.clone(ctx.runner, gitrepo.Source(ctx.state["url"], ""), platform.git_ref,
                           Path(ctx.state["dest"]), protocols=allowed, env=env,
                           timeout=settings.HARBORMASTER_GIT_TIMEOUT)
    gitrepo.refuse_links_leaving(Path(ctx.state["dest"]))
    flag(ctx, "commit", commit)
    ctx.info(ctx.runner.redact(f"Checked out {platform.git_ref} at commit {commit}."))


def clone_undo(ctx: Context) -> None:
    if ctx.state.get("dir_made"):
        gitrepo.remove_checkout(Path(ctx.state["dest"]), roots())
        ctx.state.pop("dir_made")
        ctx.save_state()
        ctx.info(f"{ctx.state['dest']} removed.")


def composer(ctx: Context) -> None:
    dest = Path(ctx.state["dest"])
    if not (dest / "composer.json").is_file():
        ctx.info("No composer.json: composer does not run.")
        return
    from hosting.platformbuild import protocols

    _base, data = _paths()
    # Packages composer clones obey the same protocol list; the clone's credential is not passed on.
    env = {k: v for k, v in gitrepo.git_environment(protocols(), None).items() if k != "GIT_SSH_COMMAND"}
    gitrepo.composer_install(ctx.runner, dest, composer_home=data / "composer", env=env,
                             timeout=settings.HARBORMASTER_COMPOSER_TIMEOUT)
    gitrepo.refuse_links_leaving(dest)


def record(ctx: Context) -> None:
    platform = _platform(ctx)
    locked: list[int] = []
    with ctx.recording():
        Platform.set_status(platform.pk, Platform.ENABLED, only_from=[Platform.QUEUED],
                            git_commit=ctx.state["commit"], verified_at=timezone.now())
        if settings.HARBORMASTER_LOCK_SUPERSEDED:
            older = (Platform.objects.filter(repository=platform.repository, status=Platform.ENABLED,
                                             created_at__lt=platform.created_at).exclude(pk=platform.pk))
            locked = list(older.values_list("pk", flat=True))
            Platform.set_status(locked, Platform.LOCKED, only_from=[Platform.ENABLED], superseded_by=platform)
    flag(ctx, "locked", locked)
    for pk in locked:
        ctx.info(f"Platform #{pk} (an older build of the repository) is locked to new sites.")
    ctx.info(f"Platform {platform.name} is built at {ctx.state['commit'][:12]} and enabled.")


def record_undo(ctx: Context) -> None:
    with ctx.recording():
        Platform.objects.filter(pk__in=ctx.state.get("locked") or [], status=Platform.LOCKED,
                                superseded_by_id=ctx.task.platform_id).update(status=Platform.ENABLED,
                                                                             superseded_by=None)
        Platform.set_status(ctx.task.platform_id, Platform.QUEUED, only_from=[Platform.ENABLED], git_commit="")


def build_plan(task: Task) -> Plan:
    return Plan([
        step("prepare", prepare, prepare_undo, label="Check the repository, the ref and the path"),
        step("clone", clone, clone_undo, label="Clone the ref (git)"),
        step("composer", composer, label="composer install --no-dev"),
        step("inspect", verify.inspect, label="Detect docroot, Drupal version and profiles"),
        step("check", verify.check, label="Check paths and permissions"),
        step("record", record, record_undo, label="Record the build"),
    ])
