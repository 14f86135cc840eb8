"""API keys (web service), stored hashed; page sessions of people are ``bbx.store.users``.

A key looks like ``bbx_<prefix>_<secret>``: ``prefix`` (8 characters) names the key in
lists, the audit log and ``submitted_by``; ``secret`` carries 256 random bits. Only the
SHA-256 of the whole key is stored, and the key is shown once, when it is created. A
high-entropy key needs no salt or slow hash: guessing it is hopeless either way.

Roles: ``tenant`` keys see and touch only their own tenant's connections; ``operator``
keys see every tenant (for operators' pages and scripts).

Scopes (issue 16): ``full`` (what the role allows) or ``person_view`` (only the person
view a BRP system calls: no sending, no reports, no pages).

Kinds (issue 14): ``live`` keys send to MijnOverheid; ``test`` keys hand in *sandbox*
submissions, which go to the deployment's sandbox endpoint and never to MijnOverheid
(``bbx.domain.delivery``).

Keys are for systems, not people (issue 14): people sign in with a named account
(``bbx.store.users``). A key expires (``expires_at``, default a year after it is made);
``last_used_at`` is updated at most once a minute. Rotation: make the new key, switch the
system over, revoke the old one — both are valid meanwhile.
"""

from __future__ import annotations

import secrets
import string
from dataclasses import dataclass
from datetime import datetime, timedelta

from bbx.crypto import secret_digest
from bbx.i18n import _
from bbx.store import audit

KEY_PREFIX = "bbx_"
DEFAULT_LIFETIME = timedelta(days=365)
MAX_LIFETIME = timedelta(days=2 * 365)
_PREFIX_ALPHABET = string.ascii_lowercase + string.digits
_TOUCH_INTERVAL = "1 minute"  # last_used_at is updated at most this often per key


@dataclass(frozen=True)
class KeyOwner:
    """Who a valid key (or page session) belongs to."""

    key_id: int
    prefix: str
    role: str  # 'tenant' | 'operator'
    tenant_id: int | None
    tenant_code: str | None
    name: str
    scope: str = "full"  # 'full' | 'person_view'
    kind: str = "live"  # 'live' | 'test' (its sends go to the sandbox)

    @property
    def actor(self) -> str:
        return f"api-key:{self.prefix}"


@dataclass(frozen=True)
class NewKey:
    key: str  # the secret: show it once, never store it
    owner: KeyOwner


class UnknownTenant(LookupError):
    pass


SCOPES = ("full", "person_view")
KINDS = ("live", "test")


def create_key(conn, *, tenant_code: str | None, operator: bool, name: str, created_by: str,
               scope: str = "full", lifetime: timedelta = DEFAULT_LIFETIME, kind: str = "live") -> NewKey:
    """Create a key for a tenant (``operator=False``) or an operator key (no tenant)."""
    if not timedelta(0) < lifetime <= MAX_LIFETIME:
        raise ValueError(_("a key lives between 1 and {days} days", days=MAX_LIFETIME.days))
    if not name.strip() or len(name) > 200:
        raise ValueError(_("give the key a name of 1 to 200 characters (what system uses it)"))
    if operator == bool(tenant_code):
        raise ValueError("give a tenant for a tenant key, or operator=True without a tenant")
    if scope not in SCOPES:
        raise ValueError(_("unknown key scope {scope} (known: {known})", scope=repr(scope), known=", ".join(SCOPES)))
    if kind not in KINDS:
        raise ValueError(_("unknown key kind {kind} (known: {known})", kind=repr(kind), known=", ".join(KINDS)))
    tenant_id = None
    if tenant_code:
        row = conn.execute("SELECT id FROM tenants WHERE code = %s", (tenant_code,)).fetchone()
        if row is None:
            known = [r["code"] for r in conn.execute("SELECT code FROM tenants ORDER BY code")]
            raise UnknownTenant(_("no tenant with code {code}; known tenants: {known}",
                                  code=repr(tenant_code), known=", ".join(known) or _("none"))
                                + " " + _("(apply a configuration with 'bbx config apply FILE' first)"))
        tenant_id = row["id"]
    role = "operator" if operator else "tenant"
    for _attempt in range(5):  # a prefix collision is astronomically rare; retry anyway
        prefix = "".join(secrets.choice(_PREFIX_ALPHABET) for _i in range(8))
        if conn.execute("SELECT 1 FROM api_keys WHERE prefix = %s", (prefix,)).fetchone() is None:
            break
    key = f"{KEY_PREFIX}{prefix}_{secrets.token_urlsafe(32)}"
    key_id = conn.execute(
        """INSERT INTO api_keys (prefix, key_sha256, role, tenant_id, name, created_by, scope, kind, expires_at)
           VALUES (%s, %s, %s, %s, %s, %s, %s, %s, now() + %s) RETURNING id""",
        (prefix, secret_digest(key), role, tenant_id, name.strip(), created_by, scope, kind, lifetime),
    ).fetchone()["id"]
    audit.record(conn, actor=created_by, action="api_key.created", tenant_id=tenant_id,
                 details={"prefix": prefix, "role": role, "name": name.strip(), "scope": scope, "kind": kind,
                          "lifetime_days": lifetime.days})
    return NewKey(key, KeyOwner(key_id, prefix, role, tenant_id, tenant_code, name, scope, kind))


_OWNER_SQL = """SELECT k.id AS key_id, k.prefix, k.role, k.tenant_id, t.code AS tenant_code, k.name, k.scope, k.kind
                FROM api_keys k LEFT JOIN tenants t ON t.id = k.tenant_id"""


def _owner(row) -> KeyOwner:
    return KeyOwner(row["key_id"], row["prefix"], row["role"], row["tenant_id"], row["tenant_code"], row["name"],
                    row["scope"], row["kind"])


def authenticate(conn, key: str) -> KeyOwner | None:
    """The owner of a valid, unrevoked key; None for anything else."""
    if not key or not key.startswith(KEY_PREFIX) or len(key) > 200:
        return None
    row = conn.execute(f"{_OWNER_SQL} WHERE k.key_sha256 = %s AND k.revoked_at IS NULL AND k.expires_at > now()",
                       (secret_digest(key),)).fetchone()
    if row is None:
        return None
    conn.execute(
        f"UPDATE api_keys SET last_used_at = now() WHERE id = %s"
        f" AND (last_used_at IS NULL OR last_used_at < now() - interval '{_TOUCH_INTERVAL}')",
        (row["key_id"],),
    )
    return _owner(row)


def expired_at(conn, key: str) -> datetime | None:
    """When this (unrevoked) key expired; None when it is unknown, revoked or still valid.
    Asked only after a refusal, so that the caller can say *expired* instead of *unknown*."""
    if not key or not key.startswith(KEY_PREFIX) or len(key) > 200:
        return None
    row = conn.execute("SELECT expires_at FROM api_keys WHERE key_sha256 = %s AND revoked_at IS NULL"
                       " AND expires_at <= now()", (secret_digest(key),)).fetchone()
    return row["expires_at"] if row else None


def list_keys(conn, *, tenant_id: int | None = None) -> list[dict]:
    """Every key (operators), or one tenant's (``tenant_id``)."""
    where, params = ("WHERE k.tenant_id = %s", (tenant_id,)) if tenant_id is not None else ("", ())
    return conn.execute(
        f"""SELECT k.prefix, k.role, k.scope, k.kind, t.code AS tenant, k.name, k.created_by, k.created_at,
                   k.last_used_at, k.revoked_at, k.expires_at, (k.expires_at <= now()) AS expired
            FROM api_keys k LEFT JOIN tenants t ON t.id = k.tenant_id {where} ORDER BY k.created_at, k.id""",
        params).fetchall()


def revoke(conn, prefix: str, *, actor: str, tenant_id: int | None = None) -> bool:
    """Revoke a key (and end its page sessions). True when a key was revoked now.
    ``tenant_id``: only a key of this tenant (a tenant user revoking on the keys page)."""
    row = conn.execute(
        "UPDATE api_keys SET revoked_at = now() WHERE prefix = %s AND revoked_at IS NULL"
        " AND (%s::bigint IS NULL OR tenant_id = %s) RETURNING id, tenant_id",
        (prefix, tenant_id, tenant_id),
    ).fetchone()
    if row is None:
        return False
    conn.execute("DELETE FROM web_sessions WHERE api_key_id = %s", (row["id"],))
    audit.record(conn, actor=actor, action="api_key.revoked", tenant_id=row["tenant_id"], details={"prefix": prefix})
    return True


# --------------------------------------------------------------------------- page sign-in with a key


def sign_in_refused(conn, key: str) -> None:
    """A page sign-in with an unknown, revoked or person-view key (never the key itself:
    at most the prefix of a key in BBX's form, which names a key without opening it)."""
    prefix = key[4:12] if key.startswith("bbx_") and len(key) > 13 and key[12] == "_" else None
    audit.refused(conn, actor="anonymous", action="web_session.refused",
                  reason="unknown, revoked or page-less API key", details={"key_prefix": prefix} if prefix else {})
