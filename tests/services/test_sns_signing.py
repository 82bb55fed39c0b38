"""The SNS signing key: created once per data directory (0600), and signatures that
verify with the certificate's public key (v1 SHA1, v2 SHA256)."""

from __future__ import annotations

import base64
import stat
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from nimbus.services.sns_signing import Signer


def test_key_created_private_and_reused(tmp_path: Path) -> None:
    first = Signer.load_or_create(tmp_path / "sns")
    for name in ("signing-key.pem", "signing-cert.pem"):
        assert stat.S_IMODE((tmp_path / "sns" / name).stat().st_mode) == 0o600
    again = Signer.load_or_create(tmp_path / "sns")
    assert again.cert_pem == first.cert_pem


@pytest.mark.parametrize(("version", "algorithm"), [("1", hashes.SHA1()), ("2", hashes.SHA256())])
def test_signatures_verify(tmp_path: Path, version: str, algorithm: hashes.HashAlgorithm) -> None:
    signer = Signer.load_or_create(tmp_path)
    text = b"Message\nhi\nMessageId\n1\nTimestamp\nt\nTopicArn\na\nType\nNotification\n"
    signature = base64.b64decode(signer.sign(text, version))
    key = x509.load_pem_x509_certificate(signer.cert_pem).public_key()
    assert isinstance(key, rsa.RSAPublicKey)
    key.verify(signature, text, padding.PKCS1v15(), algorithm)
    with pytest.raises(InvalidSignature):
        key.verify(signature, text + b"x", padding.PKCS1v15(), algorithm)
