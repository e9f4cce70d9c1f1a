"""Certificates the user brings (a PEM chain and a PEM private key) instead of the ACME server's.

`check_upload` refuses, before anything is written, a key that is not the certificate's, a chain
whose certificates are not each signed by the next, a certificate that does not cover every name
of the site (SAN dNSNames; a wildcard `*.example.com` matches one whole left-most label, RFC 6125
6.4.3), one that is expired or not yet valid, anything that is not PEM, more than MAX_BYTES, and
a key with a passphrase (the web server could not read it unattended). `stage` then writes the
pair, 0600 in a 0700 directory under <tls dir>/uploads/, for the site's https task to take into
a version directory. Error messages never quote the key."""
from __future__ import annotations

import datetime
import hashlib
import os
import re
import secrets
import shutil
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from provision.certificates import private_tree, write_private
from provision.domains import normalise_domain
from provision.errors import ProvisionError

MAX_BYTES = 256 * 1024  # a chain of a dozen certificates with RSA 4096 keys is well under this
UPLOADED = "uploaded"
_TOKEN = re.compile(r"^[0-9]{1,12}-[0-9a-f]{32}$")


@dataclass(frozen=True)
class Checked:
    chain: bytes  # the certificates, leaf first, as PEM
    key: bytes = field(repr=False)  # the private key, PKCS#8 PEM without a passphrase
    domains: tuple[str, ...]
    issuer: str
    not_before: datetime.datetime
    not_after: datetime.datetime
    fingerprint: str  # sha256 of the leaf (DER), hex


def _refuse(text: str) -> ProvisionError:
    return ProvisionError(text, permanent=True)


def names_match(pattern: str, name: str) -> bool:
    """RFC 6125 6.4.3: a `*` only as the whole left-most label, matching exactly one label; not
    across a public suffix-like single label (`*.com` matches nothing here)."""
    pattern, name = pattern.lower().rstrip("."), name.lower().rstrip(".")
    if not pattern.startswith("*."):
        return pattern == name
    rest = pattern[2:]
    if "*" in rest or rest.count(".") < 1:
        return False
    head, _, tail = name.partition(".")
    return bool(head) and tail == rest


def _load_chain(pem: bytes) -> list:
    from cryptography import x509

    if b"-----BEGIN CERTIFICATE-----" not in pem:
        raise _refuse("The certificate is not PEM (no -----BEGIN CERTIFICATE----- block).")
    try:
        chain = x509.load_pem_x509_certificates(pem)
    except ValueError:
        raise _refuse("The certificate chain is not valid PEM: a block cannot be read.") from None
    if not chain:
        raise _refuse("The certificate chain holds no certificate.")
    return chain


def _load_key(pem: bytes):
    from cryptography.hazmat.primitives import serialization

    if b"PRIVATE KEY-----" not in pem:
        raise _refuse("The private key is not PEM (no -----BEGIN ... PRIVATE KEY----- block).")
    if b"ENCRYPTED" in pem or b"Proc-Type: 4,ENCRYPTED" in pem:
        raise _refuse("The private key is protected by a passphrase; upload it without one "
                      "(the web server must read it unattended).")
    try:
        return serialization.load_pem_private_key(pem, password=None)
    except TypeError:
        raise _refuse("The private key is protected by a passphrase; upload it without one "
                      "(the web server must read it unattended).") from None
    except (ValueError, Exception):  # noqa: BLE001 - the library's message could quote the key
        raise _refuse("The private key cannot be read (not a PEM RSA, EC or Ed25519 key).") from None


def _public(obj) -> bytes:
    from cryptography.hazmat.primitives import serialization

    return obj.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)


def _check_links(chain: list) -> None:
    """Each certificate signed by the next (the last one may be the root or an intermediate)."""
    for position, (child, parent) in enumerate(zip(chain, chain[1:], strict=False), start=1):
        try:
            child.verify_directly_issued_by(parent)
        except (ValueError, TypeError, Exception):  # noqa: BLE001 - InvalidSignature and friends
            raise _refuse(f"The chain is not in order: certificate {position} ({_subject(child)}) is not "
                          f"signed by certificate {position + 1} ({_subject(parent)}). Give the site's "
                          "certificate first, then each issuer in turn.") from None


def _subject(cert) -> str:
    return cert.subject.rfc4514_string()[:120] or "no subject"


def _names(cert) -> tuple[str, ...]:
    from cryptography import x509

    try:
        return tuple(cert.extensions.get_extension_for_class(x509.SubjectAlternativeName)
                     .value.get_values_for_type(x509.DNSName))
    except x509.ExtensionNotFound:
        return ()


def check_upload(chain_pem: bytes, key_pem: bytes, domains: Sequence[str],
                 now: datetime.datetime | None = None) -> Checked:
    """The checked pair, or a ProvisionError saying what is wrong (nothing is written here)."""
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.x509.oid import NameOID

    if len(chain_pem) > MAX_BYTES or len(key_pem) > MAX_BYTES:
        raise _refuse(f"The upload is too large: at most {MAX_BYTES // 1024} KiB each for the chain and the key.")
    chain = _load_chain(chain_pem)
    key = _load_key(key_pem)
    leaf = chain[0]
    _check_links(chain)
    if _public(key.public_key()) != _public(leaf.public_key()):
        raise _refuse("The private key does not belong to the certificate (their public keys differ).")
    if len(chain) == 1 and leaf.issuer == leaf.subject:
        try:
            leaf.verify_directly_issued_by(leaf)
        except Exception:  # noqa: BLE001
            raise _refuse("The certificate names itself as its issuer but is not self-signed; give its "
                          "issuer's certificate after it.") from None
    now = now or datetime.datetime.now(datetime.UTC)
    if leaf.not_valid_after_utc <= now:
        raise _refuse(f"The certificate expired on {leaf.not_valid_after_utc:%Y-%m-%d %H:%M} UTC.")
    if leaf.not_valid_before_utc > now:
        raise _refuse(f"The certificate is not valid before {leaf.not_valid_before_utc:%Y-%m-%d %H:%M} UTC.")
    for position, cert in enumerate(chain[1:], start=2):
        if cert.not_valid_after_utc <= now:
            raise _refuse(f"Certificate {position} of the chain ({_subject(cert)}) expired on "
                          f"{cert.not_valid_after_utc:%Y-%m-%d} UTC.")
    covered = _names(leaf)
    wanted = [normalise_domain(d) for d in domains]
    missing = [n for n in wanted if not any(names_match(p, n) for p in covered)]
    if missing:
        shown = ", ".join(covered[:10]) or "no DNS name"
        raise _refuse(f"The certificate does not cover {', '.join(missing)} (it names {shown}).")
    common = leaf.issuer.get_attributes_for_oid(NameOID.COMMON_NAME)
    issuer = str(common[0].value) if common else leaf.issuer.rfc4514_string()
    clean_key = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                  serialization.NoEncryption())
    clean_chain = b"".join(c.public_bytes(serialization.Encoding.PEM) for c in chain)
    return Checked(clean_chain, clean_key, covered, (issuer or UPLOADED)[:200], leaf.not_valid_before_utc,
                   leaf.not_valid_after_utc, leaf.fingerprint(hashes.SHA256()).hex())


def stage(tls_dir: Path, checked: Checked, owner: int) -> str:
    """Write the checked pair under <tls dir>/uploads/<token>/; the token names it for the task
    and starts with OWNER (the site's id), so it applies to that site only."""
    token = f"{int(owner)}-{secrets.token_hex(16)}"
    where = private_tree(tls_dir, "uploads", token)
    try:
        write_private(where / "privkey.pem", checked.key)
        write_private(where / "fullchain.pem", checked.chain)
    except BaseException:
        shutil.rmtree(where, ignore_errors=True)
        raise
    return token


def valid_token(token: str, owner: int) -> bool:
    return bool(_TOKEN.match(token)) and token.split("-", 1)[0] == str(int(owner))


def staged_dir(tls_dir: Path, token: str) -> Path:
    if not _TOKEN.match(token):
        raise ProvisionError("The uploaded certificate's reference is not valid.")
    return tls_dir / "uploads" / token


def discard(tls_dir: Path, token: str) -> None:
    shutil.rmtree(staged_dir(tls_dir, token), ignore_errors=True)


def install(tls_dir: Path, token: str, domain: str) -> Path:
    """Move a staged pair into a new version directory of DOMAIN (the caller checked it before)."""
    source = staged_dir(tls_dir, token)
    if not (source / "fullchain.pem").is_file() or not (source / "privkey.pem").is_file():
        raise ProvisionError("The uploaded certificate is no longer there (already applied, or removed); "
                             "upload it again.", permanent=True)
    digest = hashlib.sha256((source / "fullchain.pem").read_bytes()).hexdigest()[:12]
    version = f"up{datetime.datetime.now(datetime.UTC):%Y%m%d%H%M%S}-{digest}"
    target = private_tree(tls_dir, "sites", normalise_domain(domain)) / version
    os.replace(source, target)
    os.chmod(target, 0o700)
    return target


def tidy(tls_dir: Path, older_than: float = 86400.0) -> int:
    """Remove staged pairs no task took within OLDER_THAN seconds (a cancelled or refused task's)."""
    import time

    base = tls_dir / "uploads"
    if not base.is_dir() or base.is_symlink():
        return 0
    removed = 0
    for child in base.iterdir():
        if _TOKEN.match(child.name) and child.is_dir() and not child.is_symlink() \
                and time.time() - child.stat().st_mtime > older_than:
            shutil.rmtree(child, ignore_errors=True)
            removed += 1
    return removed
