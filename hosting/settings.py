"""Harbormaster settings: everything comes from environment variables, parsed strictly by
hosting.config (a bad value stops start-up naming the variable) and checked by hosting.checks."""
from __future__ import annotations

import os
import re
import secrets
import sys
from pathlib import Path

from hosting import config, logsetup
from hosting.catalogue import DEFAULT_DEADLINES

BASE_DIR = Path(__file__).resolve().parent.parent

DATA_DIR = config.get_dir("HARBORMASTER_DATA_DIR", BASE_DIR / "var", BASE_DIR)
HARBORMASTER_DATA_DIR = DATA_DIR
HARBORMASTER_ROOTS = config.get_roots("HARBORMASTER_ROOTS", [DATA_DIR], BASE_DIR)
HARBORMASTER_BACKUP_DIR = config.get_dir("HARBORMASTER_BACKUP_DIR", DATA_DIR / "backups", BASE_DIR)
# Off-site copies (hosting.offsite): a remote whose oldest backup not copied yet is older than
# this many minutes makes `ping` fail and the dashboard warn; replication runs this often.
HARBORMASTER_OFFSITE_MAX_LAG = config.get_int("HARBORMASTER_OFFSITE_MAX_LAG", 360, minimum=1, maximum=525600)
HARBORMASTER_OFFSITE_INTERVAL = config.get_int("HARBORMASTER_OFFSITE_INTERVAL", 60, minimum=1, maximum=10080)

DEBUG = config.get_bool("HARBORMASTER_DEBUG", False)
ALLOWED_HOSTS = config.get_list("HARBORMASTER_ALLOWED_HOSTS", ["127.0.0.1", "localhost", "[::1]"])
CSRF_TRUSTED_ORIGINS = config.get_list("HARBORMASTER_CSRF_TRUSTED_ORIGINS", [])


def _secret_key() -> str:
    """The key from the environment, or one generated once and kept in the data directory so that
    sessions survive restarts of a demo instance."""
    value = config.raw("HARBORMASTER_SECRET_KEY")
    if value:
        if len(value) < 32:
            raise config.ConfigError("HARBORMASTER_SECRET_KEY", "must be at least 32 characters long")
        return value
    path = DATA_DIR / "secret_key"
    try:
        return path.read_text().strip()
    except FileNotFoundError:
        DATA_DIR.mkdir(parents=True, exist_ok=True)
        key = secrets.token_urlsafe(48)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(key)
        return key


INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "django_htmx",
    "template_partials",
    # Only for its templates and static files: the /api/v1/docs page (Swagger UI) is served from
    # our own static files, never a CDN, so the Content-Security-Policy holds.
    "ninja",
    "django_q",
    "hosting.apps.HostingConfig",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "hosting.inputs.refuse_nul_characters",
    "hosting.csp.content_security_policy",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
]

ROOT_URLCONF = "hosting.urls"
WSGI_APPLICATION = "hosting.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    }
]


# Connections are kept between tasks, broker polls and requests, and checked before reuse:
# django-q2 closes "old" connections before every task and in its broker at every poll, which
# with CONN_MAX_AGE=0 meant a new connection (on PostgreSQL a new server process) several times
# per task and ten times a second when idle. A connection a database restart broke fails its
# health check and is replaced. See docs/decisions.md, "Persistent database connections".
_PERSISTENT = {"CONN_MAX_AGE": 60, "CONN_HEALTH_CHECKS": True}


def _databases() -> dict:
    url = config.raw("DATABASE_URL")
    if url:
        parsed = config.parse_database_url("DATABASE_URL", url)
    else:
        parsed = config.DatabaseURL("sqlite", str(DATA_DIR / "harbormaster.sqlite3"))
    if parsed.engine == "sqlite":
        return {
            "default": {
                "ENGINE": "django.db.backends.sqlite3",
                "NAME": parsed.name,
                **_PERSISTENT,
                "OPTIONS": {
                    # The web process and several workers share one file: WAL lets readers go on
                    # while one writes, IMMEDIATE takes the write lock at BEGIN (no deadlock on
                    # upgrade from read to write), and the busy timeout waits instead of failing
                    # with "database is locked".
                    "transaction_mode": "IMMEDIATE",
                    "timeout": 30,
                    "init_command": (
                        "PRAGMA journal_mode=WAL;"
                        "PRAGMA synchronous=NORMAL;"
                        "PRAGMA busy_timeout=30000;"
                        "PRAGMA foreign_keys=ON;"
                    ),
                },
                # A file, not memory: engine tests run real worker processes against it.
                "TEST": {"NAME": config.raw("HARBORMASTER_TEST_SQLITE") or str(DATA_DIR / "test.sqlite3")},
            }
        }
    options = dict(parsed.options or {})
    return {
        "default": {
            "ENGINE": "django.db.backends.postgresql",
            "NAME": parsed.name,
            "USER": parsed.user,
            "PASSWORD": parsed.password,
            "HOST": parsed.host,
            "PORT": parsed.port,
            **_PERSISTENT,
            "OPTIONS": options,
            "TEST": {"NAME": config.raw("HARBORMASTER_TEST_DATABASE") or None},
        }
    }


DATABASES = _databases()
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = config.get_str("HARBORMASTER_TIME_ZONE", "UTC")
USE_I18N = False
USE_TZ = True

STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = DATA_DIR / "static"
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}
WHITENOISE_USE_FINDERS = True

LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "dashboard"
LOGOUT_REDIRECT_URL = "login"

SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SECURE = config.get_bool("HARBORMASTER_SECURE_COOKIES", False)
CSRF_COOKIE_SECURE = SESSION_COOKIE_SECURE
X_FRAME_OPTIONS = "DENY"
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"

# --- The task engine ------------------------------------------------------------------------

# Seconds between heartbeats of a running task; a task silent for 3 beats is lost.
HARBORMASTER_HEARTBEAT = config.get_number("HARBORMASTER_HEARTBEAT", 5.0, minimum=0.2, maximum=60)
HARBORMASTER_DEADLINES = config.get_deadlines("HARBORMASTER_DEADLINES", DEFAULT_DEADLINES)
HARBORMASTER_MAX_ATTEMPTS = config.get_int("HARBORMASTER_MAX_ATTEMPTS", 3, minimum=1, maximum=20)
# Seconds the undo of a failed, cancelled or lost task may take (hosting.engine.settle), counted
# afresh from the start of the rollback: the task's own deadline may be what stopped it.
HARBORMASTER_ROLLBACK_DEADLINE = config.get_number("HARBORMASTER_ROLLBACK_DEADLINE", 600.0, minimum=1,
                                                   maximum=86_400)
# Seconds a stopping cluster's workers get to hand back their running tasks (re-queue, or roll
# back); then rollbacks are cut short and, 5 s later, whatever is left is killed
# (hosting.engine.shutdown). deploy/harbormaster-workers.service's TimeoutStopSec is above both.
HARBORMASTER_STOP_GRACE = config.get_number("HARBORMASTER_STOP_GRACE", 20.0, minimum=1, maximum=600)
HARBORMASTER_SERVER_CONCURRENCY = config.get_int("HARBORMASTER_SERVER_CONCURRENCY", 4, minimum=1, maximum=1000)
HARBORMASTER_CLIENT_CONCURRENCY = config.get_int("HARBORMASTER_CLIENT_CONCURRENCY", 2, minimum=1, maximum=1000)
# The queue of the server this host runs workers for (a qcluster serves one server).
# Cron of every site (hosting.cron): the default interval in minutes (0: off unless a site sets
# its own), the shortest a site may set, how many cron runs a server runs at once (below its
# task limit, so cron never takes every slot from a backup), how many failures in a row notify,
# and how many compact runs each site keeps.
HARBORMASTER_CRON_INTERVAL = config.get_int("HARBORMASTER_CRON_INTERVAL", 60, minimum=0, maximum=10080)
HARBORMASTER_CRON_MIN_INTERVAL = config.get_int("HARBORMASTER_CRON_MIN_INTERVAL", 15, minimum=1, maximum=10080)
HARBORMASTER_CRON_CONCURRENCY = config.get_int("HARBORMASTER_CRON_CONCURRENCY", 2, minimum=1, maximum=1000)
HARBORMASTER_CRON_FAILURES = config.get_int("HARBORMASTER_CRON_FAILURES", 3, minimum=1, maximum=1000)
HARBORMASTER_CRON_HISTORY = config.get_int("HARBORMASTER_CRON_HISTORY", 20, minimum=1, maximum=1000)
# Batch migrates (hosting.batches): a batch stops starting sites after this many failures (a
# batch may set its own), and keeps this many of its migrates queued or running at once.
HARBORMASTER_BATCH_MAX_FAILURES = config.get_int("HARBORMASTER_BATCH_MAX_FAILURES", 5, minimum=1, maximum=100000)
HARBORMASTER_BATCH_WINDOW = config.get_int("HARBORMASTER_BATCH_WINDOW", 2, minimum=1, maximum=1000)
HARBORMASTER_QUEUE = config.get_str("HARBORMASTER_QUEUE", "local")
HARBORMASTER_WORKERS = config.get_int("HARBORMASTER_WORKERS", 2, minimum=1, maximum=64)
# What one task's log holds at most: its first three quarters and last quarter of these are kept,
# the lines between them counted in a marker (hosting.engine.loglimits). Characters, not bytes.
HARBORMASTER_TASK_LOG_MAX_LINES = config.get_int("HARBORMASTER_TASK_LOG_MAX_LINES", 20_000, minimum=100)
HARBORMASTER_TASK_LOG_MAX_CHARS = config.get_int("HARBORMASTER_TASK_LOG_MAX_CHARS", 4_000_000, minimum=100_000)

_longest = max(HARBORMASTER_DEADLINES.values())
REDIS_URL = config.raw("REDIS_URL") or ""
# What sets this instance's keys in a shared Redis apart from another instance's (the same value
# on every host of the instance). Empty: derived from the secret key and the control database's
# name (hosting.engine.instance).
HARBORMASTER_INSTANCE = config.get_str("HARBORMASTER_INSTANCE", "")
if HARBORMASTER_INSTANCE and not re.fullmatch(r"[A-Za-z0-9_.-]{1,40}", HARBORMASTER_INSTANCE):
    raise config.ConfigError("HARBORMASTER_INSTANCE", "expected 1-40 letters, digits, '.', '_' or '-', "
                                                      f"got {HARBORMASTER_INSTANCE!r}")

Q_CLUSTER = {
    # `name` signs broker messages and must be the same for every cluster; each server's cluster
    # sets Q_CLUSTER_NAME to its own queue (see hosting.engine.routing).
    "name": "harbormaster",
    "cluster_name": HARBORMASTER_QUEUE,
    "workers": HARBORMASTER_WORKERS,
    # The engine enforces each task's own deadline and kills its process tree; django-q2's own
    # timeout would kill the worker and orphan the children, so it only backs the engine up.
    "timeout": _longest + 300,
    # A message not acknowledged by then is delivered again. It must outlast any task, and a
    # second delivery is harmless anyway: the claim turns a task that is not queued into a no-op.
    "retry": _longest + 600,
    # django-q2 must not run a task again on its own: the engine decides what re-runs.
    "max_attempts": 1,
    "ack_failures": True,
    "save_limit": 200,
    "recycle": 500,
    "max_rss": 512_000,
    "poll": config.get_number("HARBORMASTER_BROKER_POLL", 0.1, minimum=0.01, maximum=10),
    "catch_up": False,
    "label": "Workers",
    # django-q2 logs every enqueue at INFO; the engine logs task state changes itself.
    "log_level": config.get_str("HARBORMASTER_Q_LOG_LEVEL", "WARNING").upper(),
    "ALT_CLUSTERS": {},
}
if REDIS_URL:
    Q_CLUSTER["redis"] = REDIS_URL
    # django-q2's Redis broker, with every key under the instance key (hosting.engine.broker).
    Q_CLUSTER["broker_class"] = "hosting.engine.broker.Redis"
else:
    Q_CLUSTER["orm"] = "default"
    # django-q2's ORM broker, waiting for a restarting control database (hosting.engine.broker).
    Q_CLUSTER["broker_class"] = "hosting.engine.broker.ORM"

# hosting.logsetup: state lines on stdout for services; none, and no django-q2 INFO lines, for
# the commands a person types.
LOGGING = logsetup.logging_config(sys.argv, config.get_str("HARBORMASTER_LOG_LEVEL", "INFO").upper(),
                                  config.get_str("HARBORMASTER_Q_LOG_LEVEL", "WARNING").upper())

# --- Schedules, notifications, e-mail (hosting.schedules, hosting.events, hosting.notify) ------

# The queue whose cluster runs django-q2's schedules (backups, the task watcher). django-q2 runs
# a schedule only on the cluster it names, so one queue is chosen; set the same value on every host.
HARBORMASTER_SCHEDULER_QUEUE = config.get_str("HARBORMASTER_SCHEDULER_QUEUE", HARBORMASTER_QUEUE)
# The panel's address, for links in notifications.
HARBORMASTER_BASE_URL = config.get_base_url("HARBORMASTER_BASE_URL", "http://127.0.0.1:8000")
HARBORMASTER_WEBHOOK_TIMEOUT = config.get_number("HARBORMASTER_WEBHOOK_TIMEOUT", 5.0, minimum=0.5, maximum=60)
# Finished tasks, with their steps and log lines, are pruned this many days after they finished
# (hosting.prune, hourly); 0 keeps them forever.
HARBORMASTER_TASK_RETENTION_DAYS = config.get_int("HARBORMASTER_TASK_RETENTION_DAYS", 90, minimum=0, maximum=36500)
# Audit events older than this many days are pruned (hosting.auditprune, hourly), each prune
# audited itself; 0 (the default) keeps the audit trail forever. Independent of task retention:
# who did what outlives the task's log.
HARBORMASTER_AUDIT_RETENTION_DAYS = config.get_int("HARBORMASTER_AUDIT_RETENTION_DAYS", 0, minimum=0, maximum=36500)
# Where a site's files/ may be a link to (large files kept on another disk): `<root>/<domain>` of
# each of these, nowhere else; a link anywhere else is neither followed nor kept by backups and
# never re-created by a restore. Empty (the default): files/ links are allowed nowhere.
HARBORMASTER_FILES_ROOTS = config.get_roots("HARBORMASTER_FILES_ROOTS", [], BASE_DIR)
# The scrub (hosting.scrub): every object of every backup store is re-read and re-hashed, at most
# this many bytes per run (every 10 minutes), each store once per HARBORMASTER_SCRUB_DAYS.
HARBORMASTER_SCRUB_BYTES = config.get_int("HARBORMASTER_SCRUB_BYTES", 512 << 20, minimum=1 << 20)
HARBORMASTER_SCRUB_DAYS = config.get_number("HARBORMASTER_SCRUB_DAYS", 7.0, minimum=0.01, maximum=365)
# Platforms built from Git (hosting.operations.platform_build): where checkouts go (inside the
# roots; empty: <data dir>/platforms), where the secrets a clone may name live (files, 0600;
# empty: <data dir>/git-secrets), the protocols git may use, the time git and composer each get,
# and whether a new build of a repository locks its older platforms to new sites.
HARBORMASTER_PLATFORM_BUILD_DIR = config.get_str("HARBORMASTER_PLATFORM_BUILD_DIR", "")
HARBORMASTER_GIT_SECRETS_DIR = config.get_str("HARBORMASTER_GIT_SECRETS_DIR", "")
HARBORMASTER_GIT_PROTOCOLS = config.get_list("HARBORMASTER_GIT_PROTOCOLS", ["https", "ssh", "file"])
HARBORMASTER_GIT_TIMEOUT = config.get_int("HARBORMASTER_GIT_TIMEOUT", 900, minimum=5, maximum=86400)
HARBORMASTER_COMPOSER_TIMEOUT = config.get_int("HARBORMASTER_COMPOSER_TIMEOUT", 1800, minimum=5, maximum=86400)
HARBORMASTER_LOCK_SUPERSEDED = config.get_bool("HARBORMASTER_LOCK_SUPERSEDED", False)
_email = config.parse_email_url("EMAIL_URL", config.raw("EMAIL_URL") or "console://")
EMAIL_BACKEND = _email.backend
EMAIL_HOST, EMAIL_PORT = _email.host or "localhost", _email.port or 25
EMAIL_HOST_USER, EMAIL_HOST_PASSWORD = _email.user, _email.password
EMAIL_USE_TLS, EMAIL_USE_SSL = _email.use_tls, _email.use_ssl
EMAIL_TIMEOUT = 10
DEFAULT_FROM_EMAIL = config.get_str("HARBORMASTER_EMAIL_FROM", "harbormaster@localhost")
SERVER_EMAIL = DEFAULT_FROM_EMAIL
EMAIL_SUBJECT_PREFIX = config.get_str("HARBORMASTER_EMAIL_SUBJECT_PREFIX", "[Harbormaster]").rstrip() + " "

# --- Site certificates (ACME, HTTP-01) -------------------------------------------------------

HARBORMASTER_ACME_DIRECTORY = config.get_base_url("HARBORMASTER_ACME_DIRECTORY",
                                                  "https://acme-v02.api.letsencrypt.org/directory")
# A PEM bundle to trust for the ACME server's own TLS (a private CA's); empty: the system's.
HARBORMASTER_ACME_CA_BUNDLE = config.get_str("HARBORMASTER_ACME_CA_BUNDLE", "")
HARBORMASTER_ACME_EMAIL = config.get_str("HARBORMASTER_ACME_EMAIL", "")
# Account and certificate keys live in <data dir>/tls (0600 files in 0700 directories), the
# HTTP-01 challenge files in <data dir>/acme-challenge (hosting.operations.site_https).

# --- Behind nginx with TLS (deploy/nginx-panel.conf) -----------------------------------------

# HARBORMASTER_HTTPS=1: the panel is only served over HTTPS by a proxy that sets
# X-Forwarded-Proto; turns on HSTS, the redirect and secure cookies.
HARBORMASTER_HTTPS = config.get_bool("HARBORMASTER_HTTPS", False)
if HARBORMASTER_HTTPS:
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SECURE_SSL_REDIRECT = True
    SECURE_HSTS_SECONDS = config.get_int("HARBORMASTER_HSTS_SECONDS", 31536000, minimum=0)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = config.get_bool("HARBORMASTER_HSTS_SUBDOMAINS", False)
    SESSION_COOKIE_SECURE = CSRF_COOKIE_SECURE = True
    # /status.json must answer a monitor on the host over plain HTTP too.
    SECURE_REDIRECT_EXEMPT = [r"^status\.json$"]

# --- The JSON API ------------------------------------------------------------------------------


def _api_rate(name: str) -> tuple[int, int]:
    """"120/min" -> (120 requests, 60 seconds); also /s, /h."""
    value = config.get_str(name, "120/min")
    count, _, unit = value.partition("/")
    units = {"s": 1, "sec": 1, "second": 1, "m": 60, "min": 60, "minute": 60, "h": 3600, "hour": 3600}
    seconds = units.get(unit.strip())
    if not count.strip().isdigit() or int(count) < 1 or seconds is None:
        raise config.ConfigError(name, f"expected requests per period like 120/min (s, min or h), got {value!r}")
    return int(count), seconds


# Requests per token in a sliding window; past it the API answers 429.
HARBORMASTER_API_RATE = _api_rate("HARBORMASTER_API_RATE")

# Failed logins per username and address within HARBORMASTER_LOGIN_WINDOW seconds before the
# login form refuses that pair (hosting/views/auth.py).
HARBORMASTER_LOGIN_ATTEMPTS = config.get_int("HARBORMASTER_LOGIN_ATTEMPTS", 5, minimum=1)
HARBORMASTER_LOGIN_WINDOW = config.get_int("HARBORMASTER_LOGIN_WINDOW", 900, minimum=1)
# Proxies whose X-Forwarded-For names the client (hosting.clientaddress); `unix`: gunicorn on a
# unix socket, whose peers have no address. Empty: REMOTE_ADDR is the client.
HARBORMASTER_TRUSTED_PROXIES = config.get_trusted_proxies("HARBORMASTER_TRUSTED_PROXIES")

# Last: every other variable has been parsed, so a bad setting leaves no key file behind.
SECRET_KEY = _secret_key()
