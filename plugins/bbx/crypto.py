"""Encryption at rest of personal content (texts, PDFs) with Fernet (AES-128-CBC + HMAC).

Keys come from configuration, never from git: ``BBX_CONTENT_KEYS`` (comma-separated
Fernet keys, newest first, so keys can rotate) or else the key file
(``BBX_KEY_FILE``, default ``data/keys/bbx-content.key``), which ``bbx keys init``
creates for development and the demo.
"""

from __future__ import annotations

import os
from functools import lru_cache

from cryptography.fernet import Fernet, MultiFernet

from bbx import settings


class MissingKeyError(RuntimeError):
    pass


def create_key_file() -> bool:
    """Create the development key file if missing (mode 0600). True when created."""
    path = settings.encryption_key_file()
    if path.exists():
        return False
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(Fernet.generate_key())
    return True


@lru_cache(maxsize=1)
def _cipher() -> MultiFernet:
    if env := os.environ.get("BBX_CONTENT_KEYS"):
        keys = [k.strip().encode() for k in env.split(",") if k.strip()]
    else:
        path = settings.encryption_key_file()
        if not path.exists():
            raise MissingKeyError(
                f"no content key: set BBX_CONTENT_KEYS or create {path} with 'bbx keys init'"
            )
        keys = [line.strip() for line in path.read_bytes().splitlines() if line.strip()]
    return MultiFernet([Fernet(k) for k in keys])


def encrypt(plain: bytes | str) -> bytes:
    if isinstance(plain, str):
        plain = plain.encode("utf-8")
    return _cipher().encrypt(plain)


def decrypt(token: bytes) -> bytes:
    return _cipher().decrypt(bytes(token))


def decrypt_text(token: bytes | None) -> str | None:
    return None if token is None else decrypt(token).decode("utf-8")
