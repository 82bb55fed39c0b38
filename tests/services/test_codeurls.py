"""Presigned code download URLs (GetFunction's Code.Location): 10 minutes, tamper-proof."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

from nimbus.services.codeurls import URL_LIFETIME_S, CodeUrlSigner

NOW = 1_800_000_000.0


def _query(url: str) -> tuple[str, str, str]:
    parts = urlsplit(url)
    query = {k: v[0] for k, v in parse_qs(parts.query).items()}
    key = parts.path.removeprefix("/_nimbus/code/").removesuffix(".zip")
    return key, query["Expires"], query["Signature"]


def test_a_url_is_valid_for_ten_minutes_then_refused() -> None:
    signer = CodeUrlSigner("http://127.0.0.1:8900/", b"s" * 32)
    url = signer.url("abc123", now=NOW)
    assert url.startswith("http://127.0.0.1:8900/_nimbus/code/abc123.zip?Expires=")
    key, expires, signature = _query(url)
    assert int(expires) == NOW + URL_LIFETIME_S == NOW + 600
    assert signer.verify(key, expires, signature, now=NOW + 599)
    assert not signer.verify(key, expires, signature, now=NOW + 601)


def test_tampered_or_foreign_urls_are_refused() -> None:
    signer = CodeUrlSigner("http://127.0.0.1:8900", b"s" * 32)
    key, expires, signature = _query(signer.url("abc123", now=NOW))
    assert not signer.verify("other", expires, signature, now=NOW)
    assert not signer.verify(key, str(int(expires) + 3600), signature, now=NOW)
    assert not signer.verify(key, "soon", signature, now=NOW)
    assert not CodeUrlSigner("http://x", b"t" * 32).verify(key, expires, signature, now=NOW)
