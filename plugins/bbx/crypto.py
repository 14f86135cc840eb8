"""Encryption at rest of personal content (texts, PDFs) with Fernet (AES-128-CBC + HMAC).

Keys come from configuration, never from git; comma- or line-separated Fernet keys,
newest first (so keys can rotate), from the first of:

1. ``BBX_CONTENT_KEYS`` (environment);
2. the key file named by ``BBX_KEY_FILE`` (e.g. a mounted Docker/Kubernetes secret);
3. the Airflow Variable ``bbx_content_keys`` through Airflow's secrets chain (a secrets
   backend, ``AIRFLOW_VAR_BBX_CONTENT_KEYS``, the metadata database; bbx.airflow_secrets),
   asked in a deployment and in Airflow's processes;
4. development and the demo only: the key file ``data/keys/bbx-content.key``, which
   ``bbx keys init`` creates. A deployment (``BBX_ENV=production``) without 1–3 stops
   with an error that names them, never a development key.

``bbx keys add`` puts a new key first in the key file; ``bbx keys rotate`` re-encrypts
stored content with the newest key, after which the older keys can be removed
(``docs/privacy.md``).

Secrets BBX checks but never shows again (API keys, page session tokens) are stored as
their SHA-256 (``secret_digest``), not encrypted.
"""

from __future__ import annotations

import hashlib
import os
from functools import lru_cache

from cryptography.fernet import Fernet, InvalidToken, MultiFernet

from bbx import settings


def secret_digest(secret: str) -> str:
    """What is stored of a high-entropy secret: its SHA-256 (hex); no salt or slow hash
    is needed, guessing the secret is hopeless either way."""
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


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


def _split(value: str | bytes) -> list[bytes]:
    text = value.decode() if isinstance(value, bytes) else value
    return [k.strip().encode() for k in text.replace("\n", ",").split(",") if k.strip()]


@lru_cache(maxsize=1)
def _configured() -> tuple[str, tuple[bytes, ...]]:
    """(where the keys come from, the keys): the first source of the module docstring."""
    from bbx import airflow_secrets

    if env := os.environ.get("BBX_CONTENT_KEYS"):
        return "BBX_CONTENT_KEYS", tuple(_split(env))
    path = settings.encryption_key_file()
    if not os.environ.get("BBX_KEY_FILE") and (settings.deployment() or settings._in_airflow()):
        name = airflow_secrets.CONTENT_KEYS_VARIABLE
        if value := airflow_secrets.variable(name):
            return f"Airflow Variable {name}", tuple(_split(value))
        if settings.deployment():
            raise MissingKeyError(
                f"BBX_ENV=production but no content key: set BBX_CONTENT_KEYS, or BBX_KEY_FILE (a mounted "
                f"secret file), or the Airflow Variable {name!r} in your secrets backend (or "
                f"AIRFLOW_VAR_{name.upper()}). A deployment never uses the development key file.")
    if not path.exists():
        raise MissingKeyError(f"no content key: set BBX_CONTENT_KEYS or create {path} with 'bbx keys init'")
    return str(path), tuple(_split(path.read_bytes()))


def key_source() -> str:
    """Where the keys come from (for messages to operators)."""
    return _configured()[0]


def _keys() -> list[bytes]:
    keys = list(_configured()[1])
    if not keys:
        raise MissingKeyError(f"no content key in {key_source()}")
    return keys


@lru_cache(maxsize=1)
def _fernets() -> tuple[Fernet, ...]:
    return tuple(Fernet(k) for k in _keys())


@lru_cache(maxsize=1)
def _cipher() -> MultiFernet:
    return MultiFernet(list(_fernets()))


def reload_keys() -> None:
    """Forget the keys read so far (they are read again on the next use)."""
    _configured.cache_clear()
    _fernets.cache_clear()
    _cipher.cache_clear()


def key_count() -> int:
    return len(_fernets())


def add_key_to_file() -> int:
    """Put a new key first in the key file (the older ones stay, to decrypt what they
    encrypted until ``bbx keys rotate`` has re-encrypted it). Returns the number of keys.
    Written to a temporary file (mode 0600) and renamed: never a half-written key file."""
    path = settings.encryption_key_file()
    if not path.exists():
        raise MissingKeyError(f"no key file {path}: create it with 'bbx keys init'")
    old = [line.strip() for line in path.read_bytes().splitlines() if line.strip()]
    temp = path.with_name(f".{path.name}.new")
    fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(b"\n".join([Fernet.generate_key(), *old]) + b"\n")
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(temp, path)
    reload_keys()
    return len(old) + 1


def is_current(token: bytes) -> bool:
    """True when ``token`` was encrypted with the newest key (checks the HMAC only: cheap)."""
    try:
        _fernets()[0].extract_timestamp(bytes(token))
        return True
    except InvalidToken:
        return False


def rotate(token: bytes) -> bytes:
    """``token`` re-encrypted with the newest key (its original timestamp kept).
    Raises ``InvalidToken`` when none of the configured keys can decrypt it."""
    return _cipher().rotate(bytes(token))


def encrypt(plain: bytes | str) -> bytes:
    if isinstance(plain, str):
        plain = plain.encode("utf-8")
    return _cipher().encrypt(plain)


def decrypt(token: bytes) -> bytes:
    return _cipher().decrypt(bytes(token))


def decrypt_text(token: bytes | None) -> str | None:
    return None if token is None else decrypt(token).decode("utf-8")
