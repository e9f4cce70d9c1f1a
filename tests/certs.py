"""Certificates made in the tests with `cryptography`: a test CA (root and intermediate) and
leaves for given names, for the uploaded-certificate tests."""
from __future__ import annotations

import datetime
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

NOW = datetime.datetime.now(datetime.UTC)


def _name(common: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common)])


def key_pem(key: Any, passphrase: bytes | None = None) -> bytes:
    encryption = (serialization.BestAvailableEncryption(passphrase) if passphrase
                  else serialization.NoEncryption())
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, encryption)


def pem(*certs: x509.Certificate) -> bytes:
    return b"".join(c.public_bytes(serialization.Encoding.PEM) for c in certs)


@dataclass
class Authority:
    cert: x509.Certificate
    key: Any


def _build(subject: str, issuer: Authority | None, key: Any, *, ca: bool, names: Sequence[str] = (),
           not_before: datetime.datetime | None = None, not_after: datetime.datetime | None = None) -> x509.Certificate:
    builder = (x509.CertificateBuilder().subject_name(_name(subject))
               .issuer_name(issuer.cert.subject if issuer else _name(subject))
               .public_key(key.public_key()).serial_number(x509.random_serial_number())
               .not_valid_before(not_before or NOW - datetime.timedelta(days=1))
               .not_valid_after(not_after or NOW + datetime.timedelta(days=90))
               .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True))
    if names:
        builder = builder.add_extension(x509.SubjectAlternativeName([x509.DNSName(n) for n in names]),
                                        critical=False)
    return builder.sign(issuer.key if issuer else key, hashes.SHA256())


def authority(name: str = "Test Root CA", parent: Authority | None = None) -> Authority:
    key = ec.generate_private_key(ec.SECP256R1())
    return Authority(_build(name, parent, key, ca=True), key)


def leaf(issuer: Authority, names: Sequence[str], **dates: Any) -> tuple[x509.Certificate, Any]:
    key = ec.generate_private_key(ec.SECP256R1())
    return _build(names[0] if names else "no name", issuer, key, ca=False, names=names, **dates), key


@dataclass
class Bundle:
    """A leaf for NAMES issued by an intermediate of a root: chain (leaf, intermediate), key, root."""

    chain: bytes
    key: bytes
    root: bytes
    leaf: x509.Certificate
    intermediate: Authority


def bundle(names: Sequence[str], **dates: Any) -> Bundle:
    root = authority()
    intermediate = authority("Test Intermediate CA", root)
    cert, key = leaf(intermediate, names, **dates)
    return Bundle(pem(cert, intermediate.cert), key_pem(key), pem(root.cert), cert, intermediate)
