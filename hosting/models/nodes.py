"""The nodes: servers, platforms on them, sites on platforms, the clients who own sites, and
the backups of sites."""
from __future__ import annotations

from collections.abc import Iterable
from typing import Any, ClassVar

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import Q

from hosting.models.fields import validate_absolute_path, validate_domain, validate_node_name
from provision import web
from provision.domains import (
    ALIASES_REDIRECT,
    ALIASES_SERVE,
    WWW_NONE,
    WWW_TO_BARE,
    WWW_TO_WWW,
    normalise_domain,
    www_counterpart,
)
from provision.errors import InvalidDomain


class Client(models.Model):
    """A tenant: its members see and act on its sites and tasks only."""

    name = models.CharField(max_length=63, unique=True, validators=[validate_node_name])
    title = models.CharField(max_length=200, blank=True)
    max_sites = models.PositiveIntegerField(null=True, blank=True, help_text="Empty: no limit.")
    max_disk_bytes = models.PositiveBigIntegerField(null=True, blank=True, help_text="Empty: no limit.")
    max_running_tasks = models.PositiveIntegerField(
        null=True, blank=True, help_text="Tasks of this client running at once. Empty: the instance default."
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.title or self.name


class Membership(models.Model):
    MANAGER, MEMBER, VIEWER = "manager", "member", "viewer"
    ROLES = [(MANAGER, "Client manager"), (MEMBER, "Client member"), (VIEWER, "Viewer")]

    client = models.ForeignKey(Client, on_delete=models.CASCADE, related_name="memberships")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="memberships")
    role = models.CharField(max_length=16, choices=ROLES, default=MEMBER)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["client", "user"], name="membership_unique")]

    def __str__(self) -> str:
        return f"{self.user} ({self.role}) in {self.client}"


class Server(models.Model):
    """A host with a web server, a database server, a worker queue and root paths."""

    HTTP_CHOICES = web.CHOICES
    DB_CHOICES = [("sqlite", "SQLite"), ("mysql", "MariaDB / MySQL"), ("postgresql", "PostgreSQL")]

    name = models.CharField(max_length=63, unique=True, validators=[validate_node_name])
    hostname = models.CharField(max_length=253, default="localhost")
    queue = models.CharField(
        max_length=63, unique=True, validators=[validate_node_name],
        help_text="The worker queue (qcluster name) of this server's host.",
    )
    http = models.CharField(max_length=16, choices=HTTP_CHOICES, default="none")
    web_conf_dir = models.CharField(max_length=1024, blank=True, validators=[validate_absolute_path])
    # How vhosts are served: nginx `listen` values or Apache <VirtualHost> addresses
    # (comma-separated), the FastCGI address of PHP-FPM, and for a private web server its main
    # config and prefix (nginx -c / -p, apache2 -f / -d). Empty: the system's own.
    web_listen = models.CharField(max_length=200, default="80", blank=True)
    # Where sites with a certificate answer HTTPS (nginx `listen` values without `ssl`, or Apache
    # addresses; comma-separated).
    web_tls_listen = models.CharField(max_length=200, default="443", blank=True)
    php_fastcgi = models.CharField(max_length=300, default="unix:/run/php/php-fpm.sock")
    web_main_config = models.CharField(max_length=1024, blank=True, validators=[validate_absolute_path])
    web_prefix = models.CharField(max_length=1024, blank=True, validators=[validate_absolute_path])
    db_engine = models.CharField(max_length=16, choices=DB_CHOICES, default="sqlite")
    db_host = models.CharField(max_length=253, blank=True)
    db_port = models.PositiveIntegerField(null=True, blank=True)
    db_admin_user = models.CharField(max_length=80, blank=True)
    # Never shown in the panel, the API, logs or exports (see hosting.redact).
    db_admin_password = models.CharField(max_length=200, blank=True)
    sqlite_dir = models.CharField(max_length=1024, blank=True, validators=[validate_absolute_path])
    # MariaDB/MySQL accounts are user@host: the host part site users get (the web servers'
    # address as the database server sees it; "%" = anywhere).
    db_user_host = models.CharField(max_length=253, default="%", blank=True)
    max_running_tasks = models.PositiveIntegerField(
        null=True, blank=True, help_text="Tasks running at once on this server. Empty: the instance default."
    )
    verified_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    def clean(self) -> None:
        # Checked here too, not only when the first vhost is written: a value a vhost cannot hold
        # (";", braces) is refused for every web server, and an nginx listen value such as
        # "443 ssl" means nothing in an Apache <VirtualHost>.
        from provision.errors import ProvisionError
        from provision.web.base import check_listen

        for field in ("web_listen", "web_tls_listen"):
            try:
                for value in str(getattr(self, field) or "").split(","):
                    if value.strip():
                        check_listen(value.strip())
            except ProvisionError as exc:
                raise ValidationError({field: str(exc)}) from None
        if self.http == "apache":
            from provision.web.apache import vhost_addresses

            try:
                vhost_addresses([v for v in (self.web_listen or "80").split(",") if v.strip()] or ["80"])
            except ProvisionError as exc:
                raise ValidationError({"web_listen": str(exc)}) from None
            try:
                vhost_addresses([v for v in (self.web_tls_listen or "443").split(",") if v.strip()] or ["443"])
            except ProvisionError as exc:
                raise ValidationError({"web_tls_listen": str(exc)}) from None


class Node(models.Model):
    """What platforms and sites share: their status changes. Each is one UPDATE of the status
    column (conditional when asked), never a save(): a task changes a node without holding its
    row, and a save() would write back every other field as it read them."""

    STATUSES: ClassVar[list[tuple[str, str]]]
    status: str  # each node's own field, with its STATUSES

    class Meta:
        abstract = True

    @classmethod
    def set_status(cls, pks: int | Iterable[int] | None, status: str, *, only_from: Iterable[str] | None = None,
                   unless: Iterable[str] = (), **fields: Any) -> int:
        """Set the status of the records PKS (with FIELDS besides), only of those whose status is
        in ONLY_FROM when given and not in UNLESS. Returns how many changed. PKS None (a task
        whose target record is gone) changes nothing."""
        if status not in dict(cls.STATUSES):
            raise ValueError(f"{cls.__name__} has no status {status!r}")
        ids = [] if pks is None else [pks] if isinstance(pks, int) else list(pks)
        rows: Any = cls._default_manager.filter(pk__in=ids)  # the subclass has the status field
        if only_from is not None:
            rows = rows.filter(status__in=list(only_from))
        if unless:
            rows = rows.exclude(status__in=list(unless))
        return rows.update(status=status, **fields)

    def mark(self, status: str) -> None:
        """Record STATUS for this node (the row and this object)."""
        self.set_status(self.pk, status)
        self.status = status


class Platform(Node):
    QUEUED, ENABLED, LOCKED, DELETED = "queued", "enabled", "locked", "deleted"
    STATUSES = [(QUEUED, "Queued"), (ENABLED, "Enabled"), (LOCKED, "Locked"), (DELETED, "Deleted")]

    name = models.CharField(max_length=63, validators=[validate_node_name])
    server = models.ForeignKey(Server, on_delete=models.PROTECT, related_name="platforms")
    path = models.CharField(max_length=1024, validators=[validate_absolute_path])
    docroot = models.CharField(max_length=1024, blank=True)
    drupal_version = models.CharField(max_length=32, blank=True)
    # The install profiles its last verify found (hidden ones left out); empty until verified.
    profiles = models.JSONField(default=list, blank=True)
    status = models.CharField(max_length=16, choices=STATUSES, default=QUEUED)
    # Empty: open to every client. Otherwise only these clients may create sites on it.
    clients = models.ManyToManyField(Client, blank=True, related_name="platforms")
    # What an Aegir import brought: {"context": <Aegir's context name>, ...}. Empty: not from Aegir.
    aegir = models.JSONField(default=dict, blank=True)
    # Built from Git (hosting.operations.platform_build): the repository and ref it was built
    # from, the commit the build checked out, the name of the secret (a file in the Git secrets
    # directory, never its value) that the clone used, and the key of its incoming webhook.
    repository = models.CharField(max_length=1000, blank=True)
    git_ref = models.CharField(max_length=200, blank=True)
    git_commit = models.CharField(max_length=64, blank=True)
    git_secret = models.CharField(max_length=63, blank=True)
    webhook_secret = models.CharField(max_length=128, blank=True)
    # The newer build of the same repository that locked this platform to new sites (the
    # HARBORMASTER_LOCK_SUPERSEDED setting); unlocking it by hand is allowed.
    superseded_by = models.ForeignKey("self", on_delete=models.SET_NULL, null=True, blank=True, related_name="+")
    # The modules, themes and profiles its last verify found (Aegir's package list):
    # {machine name: {"type": "module", "version": "2.1.0"}} (provision.packages).
    packages = models.JSONField(default=dict, blank=True)
    verified_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(fields=["name"], condition=~Q(status="deleted"), name="platform_name_live"),
        ]
        indexes = [models.Index(fields=["status"], name="platform_status")]

    def __str__(self) -> str:
        return self.name

    @property
    def choice_label(self) -> str:
        """The platform as a client member knows it: a Drupal version to choose, not a path."""
        version = self.drupal_version or "version not detected yet"
        return f"Drupal {version} ({self.name})"

    @property
    def major_version(self) -> int | None:
        head = self.drupal_version.split(".", 1)[0]
        return int(head) if head.isdigit() else None


class Site(Node):
    QUEUED, ENABLED, DISABLED, FAILED, DELETED = "queued", "enabled", "disabled", "failed", "deleted"
    STATUSES = [
        (QUEUED, "Queued"), (ENABLED, "Enabled"), (DISABLED, "Disabled"), (FAILED, "Failed"),
        (DELETED, "Deleted"),
    ]
    FILES_FOLLOW, FILES_KEEP_LINK = "follow", "keep-link"
    FILES_SYMLINK = [(FILES_FOLLOW, "Archive what a symlinked files/ points to"),
                     (FILES_KEEP_LINK, "Keep a symlinked files/ as a link")]

    domain = models.CharField(max_length=253, validators=[validate_domain])
    aliases = models.JSONField(default=list, blank=True)
    # Whether the aliases serve the site or redirect (301) to its domain, and whether the www.
    # counterpart of the domain redirects to it (provision.domains). Changed by the alias-add,
    # alias-remove and redirects tasks, which claim every name under hosting.sitenames' lock.
    ALIAS_MODES = [(ALIASES_SERVE, "Aliases serve the site"), (ALIASES_REDIRECT, "Aliases redirect to the domain")]
    WWW_MODES = [(WWW_NONE, "No www. redirect"), (WWW_TO_BARE, "www.<domain> redirects to <domain>"),
                 (WWW_TO_WWW, "<bare domain> redirects to www.<domain>")]
    alias_mode = models.CharField(max_length=16, choices=ALIAS_MODES, default=ALIASES_SERVE)
    www_redirect = models.CharField(max_length=16, choices=WWW_MODES, default=WWW_NONE, blank=True)
    platform = models.ForeignKey(Platform, on_delete=models.PROTECT, related_name="sites")
    client = models.ForeignKey(Client, on_delete=models.PROTECT, null=True, blank=True, related_name="sites")
    profile = models.CharField(max_length=63, default="standard", validators=[validate_node_name])
    # The site's database lives on its platform's server. The password is not stored here: it
    # lives only in the site's settings.php and on the database server.
    db_name = models.CharField(max_length=64, blank=True)
    db_user = models.CharField(max_length=80, blank=True)
    # An SQLite database kept inside the site directory (Drupal's files/.ht.sqlite, found by a
    # platform verify): its path relative to sites/<domain>/. Empty: the database is db_name on
    # the server (for an SQLite server, <sqlite_dir>/<db_name>.sqlite). settings.php is compared
    # with these fields and never obeyed.
    db_file = models.CharField(max_length=255, blank=True)
    status = models.CharField(max_length=16, choices=STATUSES, default=QUEUED)
    imported = models.BooleanField(default=False, help_text="Found on disk by a platform verify.")
    # HTTPS (hosting.operations.site_https): off; on (HTTP and HTTPS both serve); required (HTTP
    # redirects to HTTPS). The vhost has a TLS block only once the site has a certificate.
    HTTPS_OFF, HTTPS_ON, HTTPS_REQUIRED = "off", "on", "required"
    HTTPS_MODES = [(HTTPS_OFF, "Off"), (HTTPS_ON, "On (HTTP and HTTPS)"), (HTTPS_REQUIRED, "Required (HTTP redirects)")]
    https_mode = models.CharField(max_length=16, choices=HTTPS_MODES, default=HTTPS_OFF)
    https_hsts = models.BooleanField(default=False, help_text="Send Strict-Transport-Security over HTTPS.")
    # What an Aegir import brought: {"context": <Aegir's context name>, "redirection": <domain>,
    # "https": disabled|enabled|required, "language": ...}, as Aegir had it (the import sets
    # alias_mode and https_mode from it: hosting.aegir.record.carried_over). Empty: not imported.
    aegir = models.JSONField(default=dict, blank=True)
    files_symlink = models.CharField(max_length=16, choices=FILES_SYMLINK, default=FILES_FOLLOW)
    disk_files_bytes = models.PositiveBigIntegerField(default=0)
    disk_db_bytes = models.PositiveBigIntegerField(default=0)
    # Everything the backup store holds for the domain (archives, packs, loose objects, indexes),
    # measured after each backup and each retention run.
    disk_backup_bytes = models.PositiveBigIntegerField(default=0)
    # Why the site needs a human (empty: it does not). Until it is resolved, only verify and
    # delete run on it. attention is shown to the site's client and names nothing of another
    # client's; attention_detail, for administrators, says whose database or which other
    # platform. attention_platform: another platform holding a copy of the site.
    attention = models.TextField(blank=True)
    attention_detail = models.TextField(blank=True)
    attention_platform = models.ForeignKey(Platform, on_delete=models.SET_NULL, null=True, blank=True,
                                           related_name="+")
    # The database (a name on the site's server) that the site's settings.php names but that no
    # record says is the site's: an administrator may adopt it (hosting.actions.adopt_database).
    attention_database = models.CharField(max_length=255, blank=True)
    # The modules and themes the site has enabled, as its last verify's drush pm:list said:
    # {machine name: version}. Empty: not known (never verified since, or drush could not say).
    packages = models.JSONField(default=dict, blank=True)
    verified_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["domain"]
        constraints = [
            models.UniqueConstraint(fields=["domain"], condition=~Q(status="deleted"), name="site_domain_live"),
        ]
        indexes = [
            models.Index(fields=["platform", "status"], name="site_platform_status"),
            models.Index(fields=["client", "status"], name="site_client_status"),
            models.Index(fields=["status"], name="site_status"),
            # Search by domain (hosting.listing.domain_search) and the list's order, deleted sites too.
            models.Index(fields=["domain", "id"], name="site_domain_id"),
            # The few sites that need a human, for the dashboard's figure.
            models.Index(fields=["status"], condition=~Q(attention=""), name="site_attention"),
        ]

    def __str__(self) -> str:
        return self.domain

    def clean(self) -> None:
        if self.domain:
            self.domain = normalise_domain(self.domain)
        self.aliases = [normalise_domain(a) for a in (self.aliases or [])]

    @property
    def server(self) -> Server:
        return self.platform.server

    @property
    def www_name(self) -> str | None:
        """The www. counterpart that redirects to the domain, or None."""
        try:
            return www_counterpart(self.domain, self.www_redirect)
        except InvalidDomain:
            return None

    @property
    def names(self) -> list[str]:
        """Every name the site answers to: its domain, its aliases, its www. counterpart."""
        www = self.www_name
        return [self.domain, *self.aliases, *([www] if www and www not in self.aliases else [])]

    # Besides verify (which reports and repairs) and delete (which ends it), nothing runs on a
    # site that needs attention: its record and its disk disagree until a human says which is right.
    ATTENTION_OK = ("verify", "delete")

    @staticmethod
    def attention_cleared() -> dict[str, Any]:
        """The fields of a site that no longer needs attention."""
        return {"attention": "", "attention_detail": "", "attention_platform": None}

    def attention_refusal(self, kind: str) -> str:
        """Why a task of KIND cannot start on this site now that it needs attention ("": it can)."""
        if self.attention and kind not in self.ATTENTION_OK:
            return f"The site needs attention: {self.attention} Only verify and delete run on it until then."
        return ""


class Backup(models.Model):
    MANUAL, PRE_DELETE, PRE_MIGRATE, PRE_RESTORE, SCHEDULED, PRE_UPDATE = (
        "manual", "pre-delete", "pre-migrate", "pre-restore", "scheduled", "pre-update")
    KINDS = [(MANUAL, "Manual"), (PRE_DELETE, "Before delete"), (PRE_MIGRATE, "Before migrate"),
             (PRE_RESTORE, "Before restore"), (SCHEDULED, "Scheduled"), (PRE_UPDATE, "Before database updates")]

    # A backup outlives its site's record: the domain is kept beside the (nullable) link.
    site = models.ForeignKey(Site, on_delete=models.SET_NULL, null=True, blank=True, related_name="backups")
    domain = models.CharField(max_length=253)
    client = models.ForeignKey(Client, on_delete=models.SET_NULL, null=True, blank=True, related_name="backups")
    path = models.CharField(max_length=1024)
    size = models.PositiveBigIntegerField(default=0)
    sha256 = models.CharField(max_length=64, blank=True)
    kind = models.CharField(max_length=16, choices=KINDS, default=MANUAL)
    manifest = models.JSONField(default=dict, blank=True)
    task = models.ForeignKey("hosting.Task", on_delete=models.SET_NULL, null=True, blank=True, related_name="backups")
    created_at = models.DateTimeField(auto_now_add=True)
    verified_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["site", "-created_at"], name="backup_site_created")]

    def __str__(self) -> str:
        return f"{self.domain} {self.created_at:%Y-%m-%d %H:%M}" if self.created_at else self.domain

    @property
    def file_name(self) -> str:
        """The archive's name without the store's directory (what a client member is shown)."""
        return self.path.rsplit("/", 1)[-1]
