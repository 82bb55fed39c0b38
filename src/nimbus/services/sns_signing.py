"""SNS message signatures: one RSA key and self-signed certificate per data directory
(created on first start, mode 0600), served at SigningCertURL so subscribers can verify
messages as they verify AWS' (SignatureVersion 1: SHA1withRSA, 2: SHA256withRSA)."""

from __future__ import annotations

import base64
import datetime as dt
import os
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.x509.oid import NameOID

CERT_NAME = "SimpleNotificationService-nimbus.pem"


class Signer:
    def __init__(self, key: rsa.RSAPrivateKey, cert_pem: bytes) -> None:
        self.key = key
        self.cert_pem = cert_pem

    @classmethod
    def load_or_create(cls, directory: Path) -> Signer:
        directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        key_path, cert_path = directory / "signing-key.pem", directory / "signing-cert.pem"
        if key_path.exists() and cert_path.exists():
            key = serialization.load_pem_private_key(key_path.read_bytes(), password=None)
            assert isinstance(key, rsa.RSAPrivateKey)
            return cls(key, cert_path.read_bytes())
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        cert_pem = _self_signed(key)
        _write_private(
            key_path,
            key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            ),
        )
        _write_private(cert_path, cert_pem)
        return cls(key, cert_pem)

    def sign(self, canonical: bytes, version: str) -> str:
        algorithm = hashes.SHA256() if version == "2" else hashes.SHA1()  # v1 is SHA1, as AWS
        signature = self.key.sign(canonical, padding.PKCS1v15(), algorithm)
        return base64.b64encode(signature).decode()


def _write_private(path: Path, data: bytes) -> None:
    """Written to a 0600 temporary file, then renamed: never readable by others."""
    temporary = path.with_suffix(".tmp")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(data)
    os.replace(temporary, path)


def _self_signed(key: rsa.RSAPrivateKey) -> bytes:
    name = x509.Name(
        [
            x509.NameAttribute(NameOID.COMMON_NAME, "sns.nimbus.local"),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Nimbus"),
        ]
    )
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=3650))
        .sign(key, hashes.SHA256())
    )
    return cert.public_bytes(serialization.Encoding.PEM)
