"""What every web server driver offers, and the file handling they share: vhosts written to a
temporary name and renamed, the old file kept until the server accepted the new one, one
change at a time per vhost directory.

Files in `vhost_dir` per site:
    <domain>.conf        the vhost the server loads (the main config includes `*.conf`)
    <domain>.conf.site   the site's own vhost, kept aside while the site is disabled
"""
from __future__ import annotations

import abc
import errno
import fcntl
import os
import re
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from provision.domains import ALIAS_MODES, ALIASES_SERVE, WWW_NONE, normalise_domain, www_counterpart
from provision.durable import fsync_dir
from provision.errors import InvalidDomain, ProvisionError

if TYPE_CHECKING:
    from provision.runner import Runner
    from provision.web.tls_templates import TlsSpec

# Characters a path may hold to go into a server config unquoted: whitespace, `;`, braces,
# quotes or `$` would end a directive, open a block or be read as a variable.
_SAFE_PATH = re.compile(r"^/[A-Za-z0-9._/@+~,=-]*$")
_FASTCGI = re.compile(r"^(unix:/[A-Za-z0-9._/@+~-]+|[A-Za-z0-9.-]+:\d{1,5}|\[[0-9A-Fa-f:.]+\]:\d{1,5})$")
_LISTEN = re.compile(r"^[A-Za-z0-9.:\[\]_ *]+$")  # `*:80`: every address, in nginx and apache alike
_LOCK_WAIT = 120.0  # seconds to wait for another worker's vhost change before giving up


def check_listen(value: str) -> None:
    """A ProvisionError unless VALUE (one listen value or address) can go into a vhost as it is."""
    if not _LISTEN.match(value):
        raise ProvisionError(f"{value[:50]!r} is not a listen address a vhost can hold.")


def config_path(value: Path | str, what: str) -> Path:
    """VALUE as an absolute path that can go into a server config, or a ProvisionError."""
    text = os.fspath(value)
    if not _SAFE_PATH.match(text) or "/../" in text + "/" or "/./" in text + "/":
        raise ProvisionError(f"The {what} {text[:200]!r} must be an absolute path of letters, "
                             "digits and ._/@+~,=- only (a web server config cannot hold others).")
    return Path(text)


@dataclass(frozen=True)
class VhostSpec:
    """One site as the web server sees it. Names are normalised and every value is checked
    here, so a template never receives text that could change the config's structure."""

    domain: str
    aliases: Sequence[str]
    docroot: Path
    site_dir: Path
    php_fastcgi: str = "127.0.0.1:9000"
    # The aliases serve the site, or answer 301 to the domain (provision.domains.ALIAS_MODES);
    # the www. counterpart of the domain redirects to it or not (provision.domains.WWW_MODES).
    alias_mode: str = ALIASES_SERVE
    www_redirect: str = WWW_NONE
    tls: TlsSpec | None = None  # HTTPS as well (provision.web.tls_templates)

    def __post_init__(self) -> None:
        domain = normalise_domain(self.domain)
        aliases: list[str] = []
        for alias in self.aliases:
            name = normalise_domain(alias)  # raises InvalidDomain for anything else
            if name != domain and name not in aliases:
                aliases.append(name)
        object.__setattr__(self, "domain", domain)
        object.__setattr__(self, "aliases", tuple(aliases))
        if self.alias_mode not in ALIAS_MODES:
            raise ProvisionError(f"{self.alias_mode[:50]!r} is not an alias mode ({', '.join(ALIAS_MODES)}).")
        www_counterpart(domain, self.www_redirect)  # refuses a mode that does not fit the domain
        docroot = config_path(self.docroot, "docroot")
        site_dir = config_path(self.site_dir, "site directory")
        if not site_dir.is_relative_to(docroot):
            raise ProvisionError(f"The site directory {site_dir} is not inside the docroot {docroot}.")
        object.__setattr__(self, "docroot", docroot)
        object.__setattr__(self, "site_dir", site_dir)
        if not _FASTCGI.match(self.php_fastcgi):
            raise ProvisionError(f"{self.php_fastcgi[:100]!r} is not a FastCGI address "
                                 "(host:port, [v6]:port or unix:/path).")

    @property
    def names(self) -> tuple[str, ...]:
        """Every name the site answers to, served or redirected (the www. counterpart last)."""
        www = www_counterpart(self.domain, self.www_redirect)
        return (self.domain, *self.aliases, *([www] if www and www not in self.aliases else []))

    @property
    def served_names(self) -> tuple[str, ...]:
        """The names the site itself answers on: the domain, and the aliases unless they redirect."""
        www = www_counterpart(self.domain, self.www_redirect)
        served = self.aliases if self.alias_mode == ALIASES_SERVE else ()
        return (self.domain, *(name for name in served if name != www))

    @property
    def redirect_names(self) -> tuple[str, ...]:
        """The names that answer 301 with the domain in Location."""
        return tuple(name for name in self.names if name not in self.served_names)


@dataclass(frozen=True)
class WebConfig:
    """How a server's web server is driven. `main_config` and `prefix` are passed to every call
    of the server's program (nginx: -c / -p; apache: -f / -d); `binary` replaces the driver's
    program (None: nginx, or apache2ctl / apache2); `test_argv` / `reload_argv` replace the
    default commands (for example ["sudo", "systemctl", "reload", "nginx"]). `listen` holds
    nginx `listen` values, or for apache the addresses of each <VirtualHost>."""

    kind: str  # a driver's kind (provision.web.KINDS)
    vhost_dir: Path
    listen: tuple[str, ...] = ("80",)
    binary: str | None = None
    main_config: Path | None = None
    prefix: Path | None = None
    test_argv: tuple[str, ...] | None = None
    reload_argv: tuple[str, ...] | None = None
    pages_dir: Path | None = None  # the "site disabled" page; default <vhost_dir>/harbormaster-pages
    template: str | None = field(default=None, repr=False)
    extra_args: tuple[str, ...] = ()  # added to every call, e.g. ("-e", "/path/error.log") for nginx
    timeout: float = 60.0
    tls_listen: tuple[str, ...] = ("443",)  # where a site with a certificate answers HTTPS
    challenge_dir: Path | None = None  # served at /.well-known/acme-challenge/ by every vhost
    # Each vhost's access and error log (<domain>.access.log, <domain>.error.log); default
    # <vhost_dir>/harbormaster-logs. Never inside a docroot: a site's client writes there.
    log_dir: Path | None = None

    def __post_init__(self) -> None:
        if self.challenge_dir is not None:
            object.__setattr__(self, "challenge_dir", config_path(self.challenge_dir, "ACME challenge directory"))
        for value in (*self.listen, *self.tls_listen):
            check_listen(value)

    @property
    def pages(self) -> Path:
        return config_path(self.pages_dir or self.vhost_dir / "harbormaster-pages", "pages directory")

    @property
    def logs(self) -> Path:
        return config_path(self.log_dir or self.vhost_dir / "harbormaster-logs", "log directory")

    def access_log(self, domain: str) -> Path:
        return self.logs / f"{normalise_domain(domain)}.access.log"

    def error_log(self, domain: str) -> Path:
        return self.logs / f"{normalise_domain(domain)}.error.log"

    def site_logs(self, domain: str, docroot: Path | None = None) -> tuple[Path, Path]:
        """DOMAIN's access and error log; a ProvisionError when the log directory is inside
        DOCROOT (the site's client could then replace a log by a link to another file)."""
        logs = self.logs
        if docroot is not None and (logs == docroot or logs.is_relative_to(docroot)):
            raise ProvisionError(f"The log directory {logs} is inside the docroot {docroot}: "
                                 "a site's files cannot hold its web server's logs.")
        return self.access_log(domain), self.error_log(domain)


class WebServer(abc.ABC):
    """Vhosts of one web server. Every method that changes a vhost is all-or-nothing: the
    server either accepted the new configuration and reloaded, or the old files are back."""

    kind: str = ""  # what a Server record names; a subclass with a kind is a driver (provision.web)
    label: str = ""  # how the panel names it
    rank = 100  # where it comes in lists

    def __init__(self, config: WebConfig, runner: Runner) -> None:
        self.config = config
        self.runner = runner
        self.vhost_dir = config.vhost_dir

    # -- what a driver provides ----------------------------------------------------------

    @abc.abstractmethod
    def render_site(self, site: VhostSpec) -> str: ...

    @abc.abstractmethod
    def render_disabled(self, domain: str, names: Sequence[str], tls: TlsSpec | None = None) -> str:
        """The "site disabled" vhost; with TLS, over HTTPS as well (the site's certificate)."""

    @abc.abstractmethod
    def test(self) -> None:
        """Check the whole configuration; raise ProvisionError with the server's message."""

    @abc.abstractmethod
    def reload(self) -> None:
        """Make the running server load the current configuration."""

    def _render(self, template: str, values: dict[str, str]) -> str:
        from provision.web.templates import VhostTemplate

        try:
            return VhostTemplate(template).substitute(values)
        except (KeyError, ValueError) as exc:
            raise ProvisionError(f"The vhost template has an unknown or malformed placeholder: "
                                 f"{exc}. Known: {', '.join('%%' + k for k in sorted(values))}.") from None

    render = _render  # for the pieces every driver shares (provision.web.redirects)

    # -- the interface -------------------------------------------------------------------

    def vhost_path(self, domain: str) -> Path:
        return self.vhost_dir / f"{normalise_domain(domain)}.conf"

    def _saved_path(self, domain: str) -> Path:
        return self.vhost_dir / f"{normalise_domain(domain)}.conf.site"

    def site_vhost_path(self, domain: str) -> Path:
        """The file that holds DOMAIN's own vhost: kept aside while the site is disabled."""
        return self._saved_path(domain) if self.is_disabled(domain) else self.vhost_path(domain)

    def has_vhost(self, domain: str) -> bool:
        return self.vhost_path(domain).is_file()

    def is_disabled(self, domain: str) -> bool:
        return self._saved_path(domain).is_file()

    def write_vhost(self, site: VhostSpec) -> Path:
        """Write SITE's vhost (kept aside if the site is disabled), test, reload."""
        own = self.render_site(site)
        with self._locked():
            if self.is_disabled(site.domain):
                changes = {self._saved_path(site.domain): own,
                           self.vhost_path(site.domain): self.render_disabled(site.domain, site.names, site.tls)}
                self._write_page()
            else:
                changes = {self.vhost_path(site.domain): own}
            self._apply(site.domain, changes)
        return self.vhost_path(site.domain)

    def disable(self, domain: str, tls: TlsSpec | None = None) -> None:
        """Swap DOMAIN's vhost for one that answers every request with the 503 page (over
        HTTPS too with TLS, the site's certificate)."""
        domain = normalise_domain(domain)
        with self._locked():
            if self.is_disabled(domain):
                return
            own = self._read(self.vhost_path(domain))
            if own is None:
                raise ProvisionError(f"{domain} has no vhost to disable; verify the site first.")
            names = self._names_of(own) or [domain]
            self._write_page()
            self._apply(domain, {self._saved_path(domain): own,
                                 self.vhost_path(domain): self.render_disabled(domain, names, tls)})

    def enable(self, domain: str) -> None:
        """Put DOMAIN's own vhost back."""
        domain = normalise_domain(domain)
        with self._locked():
            own = self._read(self._saved_path(domain))
            if own is None:
                if self.has_vhost(domain):
                    return  # not disabled
                raise ProvisionError(f"{domain} has no vhost to enable; verify the site first.")
            self._apply(domain, {self.vhost_path(domain): own, self._saved_path(domain): None})

    def remove_vhost(self, domain: str) -> None:
        """Remove every file of DOMAIN (idempotent), test, reload."""
        domain = normalise_domain(domain)
        with self._locked():
            paths = [self.vhost_path(domain), self._saved_path(domain)]
            if any(p.exists() for p in paths):
                self._apply(domain, {p: None for p in paths})

    # -- the machinery -------------------------------------------------------------------

    @staticmethod
    def _names_of(text: str) -> list[str]:
        """The names in a vhost's header line, checked again: the file may have been edited."""
        first = text.split("\n", 1)[0]
        prefix = "# harbormaster-vhost:"
        if not first.startswith(prefix):
            return []
        try:
            return [normalise_domain(name) for name in first[len(prefix):].split()]
        except InvalidDomain:
            return []

    @staticmethod
    def _read(path: Path) -> str | None:
        try:
            return path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return None

    def _log_lines(self, domain: str, docroot: Path | None = None) -> str:
        """The vhost's own access and error log lines (provision.web.templates.log_lines)."""
        from provision.web.templates import log_lines

        access, error = self.config.site_logs(domain, docroot)
        access.parent.mkdir(parents=True, exist_ok=True)  # the server opens them at its test
        return log_lines(self.kind, access, error)

    def _write_page(self) -> None:
        from provision.web.templates import DISABLED_PAGE

        page = self.config.pages / "site-disabled.html"
        if not page.exists():  # an operator's own page is kept
            page.parent.mkdir(parents=True, exist_ok=True)
            _write_atomic(page, DISABLED_PAGE)

    @contextmanager
    def _locked(self) -> Iterator[None]:
        """One vhost change at a time per directory: while one worker tests its change, a
        broken file another worker just wrote would fail the test and roll back the wrong
        change."""
        self.vhost_dir.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.vhost_dir / ".harbormaster.lock", os.O_RDWR | os.O_CREAT, 0o600)
        try:
            give_up = time.monotonic() + _LOCK_WAIT
            while True:
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except OSError as exc:
                    if exc.errno not in (errno.EAGAIN, errno.EACCES):
                        raise
                self.runner.check_stop()
                if time.monotonic() > give_up:
                    raise ProvisionError(f"Another vhost change in {self.vhost_dir} has not "
                                         f"finished in {_LOCK_WAIT:.0f} s.", permanent=False)
                time.sleep(0.05)
            yield
        finally:
            os.close(fd)  # releases the lock

    def _apply(self, domain: str, changes: Mapping[Path, str | None]) -> None:
        """Write (or, for None, remove) each file, test the result, roll every file back if
        the test fails or is interrupted, and reload when it passed."""
        current = {path: self._read(path) for path in changes}
        if all(current[path] == new for path, new in changes.items()):
            return  # nothing changes: no test, no reload
        kept: dict[Path, Path | None] = {}
        try:
            for path, new in changes.items():
                # The old file stays on disk under a hidden name until the server accepted the
                # new one: a worker killed half-way leaves it for a human to find.
                old = None
                if current[path] is not None:
                    old = path.with_name(f".{path.name}.old")
                    old.unlink(missing_ok=True)
                    os.link(path, old)
                kept[path] = old
                if new is None:
                    path.unlink(missing_ok=True)
                else:
                    _write_atomic(path, new)
            self.test()
        except BaseException as exc:
            for path, old in kept.items():
                if old is not None:
                    os.replace(old, path)
                else:
                    path.unlink(missing_ok=True)
            fsync_dir(self.vhost_dir)
            if type(exc) is ProvisionError:  # the test failed; Cancelled/TimedOut pass on as they are
                raise ProvisionError(f"The web server refused the new configuration for {domain}; "
                                     f"the previous configuration is back in place. {exc}") from None
            raise
        for old in kept.values():
            if old is not None:
                old.unlink(missing_ok=True)
        fsync_dir(self.vhost_dir)
        try:
            self.reload()
        except ProvisionError as exc:
            # The files are valid (tested): the next reload picks them up, so this is worth a retry.
            raise ProvisionError(f"The configuration for {domain} is written and valid, but the web "
                                 f"server did not reload: {exc}", permanent=False) from None


def _write_atomic(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    try:
        with open(tmp, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise

