"""Site certificates from an ACME server (Let's Encrypt, or Pebble in the tests) by the HTTP-01
challenge, through certbot's `acme` library (docs/decisions.md), and where their keys live.

Layout under the TLS directory (outside every web root; 0700 directories, 0600 files):
    accounts/<sha256 of the directory URL>/key.pem   one ACME account per ACME server
    sites/<domain>/<version>/privkey.pem, fullchain.pem
A new certificate goes into a new version directory: the vhost names that directory, so the
key and the chain a server loads always belong together, and the previous version stays
usable until the new vhost is accepted (remove_versions() tidies up after).

The challenge directory holds only the public tokens: it is served at
/.well-known/acme-challenge/ by every vhost of the server (provision.web.tls_templates)."""
from __future__ import annotations

import datetime
import hashlib
import os
import shutil
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from provision.domains import normalise_domain
from provision.errors import ProvisionError

Log = Callable[[str], None]
_VERSION_CHARS = set("0123456789abcdefghijklmnopqrstuvwxyz-")


@dataclass(frozen=True)
class AcmeServer:
    directory: str  # the ACME directory URL
    ca_bundle: str = ""  # PEM file to trust for the ACME server's own TLS; "" = the system's
    email: str = ""
    timeout: float = 120.0  # seconds for the whole order (validation and finalisation)


class RateLimited(ProvisionError):
    """The ACME server refused for now (429, rateLimited, or a Retry-After): not before NOT_BEFORE."""

    def __init__(self, message: str, not_before: datetime.datetime) -> None:
        super().__init__(message, permanent=False)
        self.not_before = not_before


RATE_LIMIT_DEFAULT = datetime.timedelta(hours=1)  # rateLimited without a Retry-After
RATE_LIMIT_MAX = datetime.timedelta(days=7)  # a later Retry-After is taken as this


def retry_after(value: str | None, now: datetime.datetime) -> datetime.datetime | None:
    """A Retry-After header (delta-seconds or an HTTP-date) as an aware UTC time, None if absent
    or unreadable; never more than RATE_LIMIT_MAX ahead."""
    from email.utils import parsedate_to_datetime

    if not value:
        return None
    value = value.strip()
    when: datetime.datetime | None
    if value.isdigit():
        when = now + datetime.timedelta(seconds=min(int(value), int(RATE_LIMIT_MAX.total_seconds())))
    else:
        try:
            when = parsedate_to_datetime(value)
        except (TypeError, ValueError, IndexError):
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=datetime.UTC)
    return max(now, min(when, now + RATE_LIMIT_MAX))


@dataclass(frozen=True)
class Issued:
    """A certificate installed in its version directory."""

    version: Path
    domains: tuple[str, ...]
    issuer: str
    not_before: datetime.datetime
    not_after: datetime.datetime

    @property
    def key(self) -> Path:
        return self.version / "privkey.pem"

    @property
    def fullchain(self) -> Path:
        return self.version / "fullchain.pem"


def private_dir(path: Path) -> Path:
    """PATH as a directory only its owner can enter (made, or tightened, here)."""
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    if path.is_symlink() or not path.is_dir():
        raise ProvisionError(f"{path} is not a plain directory; no key is written there.")
    os.chmod(path, 0o700)
    return path


def private_tree(base: Path, *parts: str) -> Path:
    """BASE/PARTS..., every level of it a private directory."""
    path = private_dir(base)
    for part in parts:
        path = private_dir(path / part)
    return path


def write_private(path: Path, data: bytes) -> None:
    """Write DATA to PATH with mode 0600 from the first byte (never through a link)."""
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def site_dir(tls_dir: Path, domain: str) -> Path:
    return tls_dir / "sites" / normalise_domain(domain)


def version_dir(tls_dir: Path, domain: str, version: str) -> Path:
    if not version or not set(version) <= _VERSION_CHARS:
        raise ProvisionError(f"{version[:40]!r} is not a certificate version.")
    return site_dir(tls_dir, domain) / version


def read_certificate(pem: bytes) -> tuple[tuple[str, ...], str, datetime.datetime, datetime.datetime]:
    """(names, issuer, not_before, not_after) of the first certificate of PEM."""
    from cryptography import x509
    from cryptography.x509.oid import NameOID

    try:
        cert = x509.load_pem_x509_certificates(pem)[0]
    except ValueError as exc:
        raise ProvisionError(f"The certificate cannot be read: {exc}") from None
    try:
        names = tuple(cert.extensions.get_extension_for_class(x509.SubjectAlternativeName)
                      .value.get_values_for_type(x509.DNSName))
    except x509.ExtensionNotFound:
        names = ()
    common = cert.issuer.get_attributes_for_oid(NameOID.COMMON_NAME)
    issuer = str(common[0].value) if common else cert.issuer.rfc4514_string()
    return names, issuer[:200], cert.not_valid_before_utc, cert.not_valid_after_utc


def _account_key(tls_dir: Path, server: AcmeServer):  # -> josepy.JWK
    import josepy as jose
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    where = private_tree(tls_dir, "accounts", hashlib.sha256(server.directory.encode()).hexdigest()[:32])
    path = where / "key.pem"
    if path.is_file() and not path.is_symlink():
        key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    else:
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        write_private(path, key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                              serialization.NoEncryption()))
    return jose.JWKRSA(key=key)


def _network():  # -> a ClientNetwork class that remembers the last refusal's status and Retry-After
    from acme import client

    class Network(client.ClientNetwork):
        last_status: int = 0
        last_retry_after: str | None = None

        def _send_request(self, method: str, url: str, *args, **kwargs):
            response = super()._send_request(method, url, *args, **kwargs)
            if not response.ok:
                self.last_status = response.status_code
                self.last_retry_after = response.headers.get("Retry-After")
            return response

    return Network


def _client(tls_dir: Path, server: AcmeServer, log: Log):  # -> (acme.client.ClientV2, JWK)
    from acme import client, errors, messages

    key = _account_key(tls_dir, server)
    # verify_ssl goes to requests' `verify`, which takes a CA bundle's path as well as a bool.
    net = _network()(key, user_agent="harbormaster",
                     verify_ssl=server.ca_bundle or True,
                     timeout=30)
    try:
        acme = client.ClientV2(client.ClientV2.get_directory(server.directory, net), net=net)
        registration = messages.NewRegistration.from_data(email=server.email or None,
                                                          terms_of_service_agreed=True)
        try:
            net.account = acme.new_account(registration)
            log(f"Registered an ACME account with {server.directory}.")
        except errors.ConflictError as exc:  # the key has an account already
            net.account = messages.RegistrationResource(body=messages.Registration(), uri=exc.location)
    except Exception as exc:  # noqa: BLE001 - requests, acme and josepy each have their own
        raise _refused(server, exc, net) from None
    return acme, key


def _refused(server: AcmeServer, exc: BaseException, net=None) -> ProvisionError:
    text = str(exc).strip() or type(exc).__name__
    if text.startswith("<Response ["):  # requests' Response, for a refusal that is not a problem document
        text = f"HTTP {getattr(net, 'last_status', 0) or text}"
    message = f"The ACME server {server.directory} did not issue the certificate: {text[:600]}"
    status = getattr(net, "last_status", 0)
    limited = status == 429 or getattr(exc, "code", None) == "rateLimited"
    now = datetime.datetime.now(datetime.UTC)
    when = retry_after(getattr(net, "last_retry_after", None), now)
    if limited or when is not None:
        return RateLimited(message, when or now + RATE_LIMIT_DEFAULT)
    return ProvisionError(message, permanent=False)


def issue(tls_dir: Path, challenge_dir: Path, server: AcmeServer, domains: Sequence[str], log: Log) -> Issued:
    """A new key and certificate for DOMAINS (the first is the site's domain) by HTTP-01, the
    tokens answered from CHALLENGE_DIR. Nothing of the site's is changed: the result is a new
    version directory, which the caller puts into the vhost (or removes)."""
    from acme import challenges, crypto_util, messages
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    names = list(dict.fromkeys(normalise_domain(d) for d in domains))
    if not names:
        raise ProvisionError("A certificate needs at least one domain.")
    challenge_dir.mkdir(parents=True, exist_ok=True)
    os.chmod(challenge_dir, 0o755)  # read by the web server's workers; holds nothing secret
    acme, account = _client(tls_dir, server, log)
    net = acme.net
    key = ec.generate_private_key(ec.SECP256R1())
    key_pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption())
    written: list[Path] = []
    try:
        order = acme.new_order(crypto_util.make_csr(key_pem, names))
        for authz in order.authorizations:
            if authz.body.status == messages.STATUS_VALID:
                continue  # validated for this account a short while ago
            found = [c for c in authz.body.challenges if isinstance(c.chall, challenges.HTTP01)]
            if not found:
                raise ProvisionError(f"The ACME server offers no HTTP-01 challenge for "
                                     f"{authz.body.identifier.value}.")
            body = found[0]
            response, validation = body.response_and_validation(account)
            token = challenge_dir / body.chall.encode("token")
            token.write_text(validation, encoding="ascii")
            os.chmod(token, 0o644)
            written.append(token)
            acme.answer_challenge(body, response)
        log(f"Asked for a certificate for {', '.join(names)}; the ACME server is checking "
            "/.well-known/acme-challenge/ on each name.")
        deadline = datetime.datetime.now() + datetime.timedelta(seconds=server.timeout)
        order = acme.poll_and_finalize(order, deadline=deadline)
    except ProvisionError:
        raise
    except Exception as exc:  # noqa: BLE001 - the library's errors carry the server's reason
        raise _refused(server, exc, net) from None
    finally:
        for path in written:
            path.unlink(missing_ok=True)
    chain = order.fullchain_pem.encode()
    got, issuer, not_before, not_after = read_certificate(chain)
    version = f"{not_before:%Y%m%d%H%M%S}-{hashlib.sha256(chain).hexdigest()[:12]}"
    where = private_tree(tls_dir, "sites", names[0], version)
    write_private(where / "privkey.pem", key_pem)
    write_private(where / "fullchain.pem", chain)
    return Issued(where, got or tuple(names), issuer, not_before, not_after)


def remove_versions(tls_dir: Path, domain: str, keep: Sequence[Path] = ()) -> int:
    """Remove DOMAIN's certificate versions except KEEP; how many were removed."""
    base = site_dir(tls_dir, domain)
    if not base.is_dir() or base.is_symlink():
        return 0
    removed = 0
    kept = {Path(p) for p in keep}
    for child in base.iterdir():
        if child not in kept and child.is_dir() and not child.is_symlink():
            shutil.rmtree(child)
            removed += 1
    if not kept:
        shutil.rmtree(base, ignore_errors=True)
    return removed
