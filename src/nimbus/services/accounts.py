"""The root account and its access key: created on first start, kept in the data dir (0600)."""

from __future__ import annotations

import json
import os
import secrets
import string
from dataclasses import dataclass
from pathlib import Path

from nimbus.store.sqlite import Database

_KEY_ALPHABET = string.ascii_uppercase + "234567"


@dataclass(frozen=True)
class RootCredentials:
    account_id: str
    access_key_id: str
    secret_access_key: str

    def as_environment(self) -> dict[str, str]:
        return {
            "AWS_ACCESS_KEY_ID": self.access_key_id,
            "AWS_SECRET_ACCESS_KEY": self.secret_access_key,
        }


def credentials_path(data_dir: Path) -> Path:
    return data_dir / "credentials.json"


def load_credentials(data_dir: Path) -> RootCredentials | None:
    path = credentials_path(data_dir)
    if not path.exists():
        return None
    raw = json.loads(path.read_text())
    return RootCredentials(raw["account_id"], raw["access_key_id"], raw["secret_access_key"])


async def ensure_root(
    db: Database, data_dir: Path, account_id: str
) -> tuple[RootCredentials, bool]:
    """The root credentials, creating them on first start; True if they are new."""
    existing = load_credentials(data_dir)
    if existing is not None and await db.access_key(existing.access_key_id) is not None:
        return existing, False
    credentials = RootCredentials(
        account_id,
        "AKIA" + "".join(secrets.choice(_KEY_ALPHABET) for _ in range(16)),
        secrets.token_urlsafe(30)[:40],
    )
    await db.ensure_account(account_id)
    await db.add_access_key(account_id, credentials.access_key_id, credentials.secret_access_key)
    path = credentials_path(data_dir)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        json.dump(
            {
                "account_id": credentials.account_id,
                "access_key_id": credentials.access_key_id,
                "secret_access_key": credentials.secret_access_key,
            },
            f,
            indent=2,
        )
    os.chmod(path, 0o600)
    return credentials, True


def server_secret(data_dir: Path) -> bytes:
    """A per-node secret for presigned code URLs (created once, 0600)."""
    path = data_dir / "server.secret"
    if not path.exists():
        data_dir.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as f:
            f.write(secrets.token_bytes(32))
    return path.read_bytes()
