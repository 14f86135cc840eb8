"""People who sign in (issue 14): named accounts with a role, separate from API keys.

Roles (``ROLES``): ``operator`` (everything, all tenants), ``tenant`` (one tenant's staff),
``auditor`` (read-only, no personal content). The same table signs people in to the
Airflow UI (``bbx.auth_manager``) and to the BBX pages, so an operator manages people in
one place (``bbx users ...`` or the *People* page).

Passwords are stored as scrypt hashes (``scrypt$n$r$p$salt$hash``, hex): a person's
password has little entropy, unlike an API key, so it needs a salted, slow hash.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass
from datetime import timedelta

from bbx.crypto import secret_digest
from bbx.i18n import _
from bbx.store import audit

ROLES = ("operator", "tenant", "auditor")
SESSION_LIFETIME = timedelta(hours=12)
MIN_PASSWORD_LENGTH = 12
USERNAME = re.compile(r"^[a-z0-9][a-z0-9._@-]{1,62}$")
_SCRYPT = {"n": 2**14, "r": 8, "p": 1}  # ~16 MB, tens of ms per check


@dataclass(frozen=True)
class User:
    user_id: int
    username: str
    full_name: str
    role: str  # 'operator' | 'tenant' | 'auditor'
    tenant_id: int | None
    tenant_code: str | None

    @property
    def actor(self) -> str:
        return f"user:{self.username}"


class AccountError(ValueError):
    """A refused account change; the message says what to do."""


def hash_password(password: str) -> str:
    salt = secrets.token_bytes(16)
    digest = hashlib.scrypt(password.encode("utf-8"), salt=salt, dklen=32, **_SCRYPT)
    return f"scrypt${_SCRYPT['n']}${_SCRYPT['r']}${_SCRYPT['p']}${salt.hex()}${digest.hex()}"


def check_password(password: str, stored: str) -> bool:
    try:
        scheme, n, r, p, salt, digest = stored.split("$")
        if scheme != "scrypt":
            return False
        got = hashlib.scrypt(password.encode("utf-8"), salt=bytes.fromhex(salt), n=int(n), r=int(r), p=int(p),
                             dklen=len(digest) // 2)
    except (ValueError, TypeError):
        return False
    return hmac.compare_digest(got.hex(), digest)


_DUMMY_HASH = hash_password(secrets.token_urlsafe(16))  # unknown user: spend the same time


def _check_new_password(password: str, username: str) -> None:
    if len(password) < MIN_PASSWORD_LENGTH:
        raise AccountError(_("the password must have at least {n} characters", n=MIN_PASSWORD_LENGTH))
    if username.lower() in password.lower():
        raise AccountError(_("the password must not contain the user name"))


def _tenant_id(conn, tenant_code: str | None, role: str) -> int | None:
    if role not in ROLES:
        raise AccountError(_("unknown role {role} (known: {known})", role=repr(role), known=", ".join(ROLES)))
    if role != "tenant":
        if tenant_code:
            raise AccountError(_("a {role} sees every tenant: give a tenant only for the role 'tenant'", role=role))
        return None
    if not tenant_code:
        raise AccountError(_("a tenant user belongs to one tenant: give its code (--tenant CODE)"))
    row = conn.execute("SELECT id FROM tenants WHERE code = %s", (tenant_code,)).fetchone()
    if row is None:
        known = [r["code"] for r in conn.execute("SELECT code FROM tenants ORDER BY code")]
        raise AccountError(_("no tenant with code {code}; known tenants: {known}",
                               code=repr(tenant_code), known=", ".join(known) or _("none")))
    return row["id"]


def add(conn, *, username: str, password: str, role: str, tenant_code: str | None = None, full_name: str = "",
        created_by: str) -> User:
    username = username.strip().lower()
    if not USERNAME.match(username):
        raise AccountError(_("user name {name} is not valid: 2–63 characters, lower-case letters, digits, "
                             "'.', '_', '@', '-', starting with a letter or digit", name=repr(username)))
    _check_new_password(password, username)
    tenant_id = _tenant_id(conn, tenant_code, role)
    if conn.execute("SELECT 1 FROM bbx_users WHERE username = %s", (username,)).fetchone():
        raise AccountError(_("user {name} exists already (bbx users reset-password {user})",
                             name=repr(username), user=username))
    user_id = conn.execute(
        """INSERT INTO bbx_users (username, full_name, role, tenant_id, password_hash, created_by)
           VALUES (%s, %s, %s, %s, %s, %s) RETURNING id""",
        (username, full_name.strip(), role, tenant_id, hash_password(password), created_by),
    ).fetchone()["id"]
    audit.record(conn, actor=created_by, action="user.added", tenant_id=tenant_id,
                 details={"username": username, "role": role})
    return User(user_id, username, full_name.strip(), role, tenant_id, tenant_code if role == "tenant" else None)


_USER_SQL = """SELECT u.id AS user_id, u.username, u.full_name, u.role, u.tenant_id, t.code AS tenant_code
               FROM bbx_users u LEFT JOIN tenants t ON t.id = u.tenant_id"""


def _user(row) -> User:
    return User(row["user_id"], row["username"], row["full_name"], row["role"], row["tenant_id"], row["tenant_code"])


def authenticate(conn, username: str, password: str) -> User | None:
    """The active user with this name and password; None for anything else (same time either way)."""
    username = (username or "").strip().lower()
    row = None
    if USERNAME.match(username) and len(password or "") <= 1000:
        row = conn.execute(
            """SELECT u.password_hash, u.id AS user_id, u.username, u.full_name, u.role, u.tenant_id,
                      t.code AS tenant_code
               FROM bbx_users u LEFT JOIN tenants t ON t.id = u.tenant_id
               WHERE u.username = %s AND u.disabled_at IS NULL""", (username,)).fetchone()
    ok = check_password(password or "", row["password_hash"] if row else _DUMMY_HASH)
    if row is None or not ok:
        return None
    conn.execute("UPDATE bbx_users SET last_sign_in_at = now() WHERE id = %s", (row["user_id"],))
    return _user(row)


def get(conn, username: str) -> User | None:
    """An active user by name (the Airflow auth manager's token names the person)."""
    row = conn.execute(f"{_USER_SQL} WHERE u.username = %s AND u.disabled_at IS NULL",
                       ((username or "").lower(),)).fetchone()
    return _user(row) if row else None


def list_users(conn, *, tenant_id: int | None = None) -> list[dict]:
    where, params = ("WHERE u.tenant_id = %s", (tenant_id,)) if tenant_id is not None else ("", ())
    return conn.execute(
        f"""SELECT u.username, u.full_name, u.role, t.code AS tenant, u.created_by, u.created_at,
                   u.last_sign_in_at, u.disabled_at
            FROM bbx_users u LEFT JOIN tenants t ON t.id = u.tenant_id {where}
            ORDER BY u.role, t.code NULLS FIRST, u.username""", params).fetchall()


def disable(conn, username: str, *, actor: str) -> bool:
    """Disable an account and end its sessions. True when it was active."""
    row = conn.execute("UPDATE bbx_users SET disabled_at = now() WHERE username = %s AND disabled_at IS NULL"
                       " RETURNING id, tenant_id", (username.lower(),)).fetchone()
    if row is None:
        return False
    conn.execute("DELETE FROM web_sessions WHERE user_id = %s", (row["id"],))
    audit.record(conn, actor=actor, action="user.disabled", tenant_id=row["tenant_id"],
                 details={"username": username.lower()})
    return True


def reset_password(conn, username: str, password: str, *, actor: str) -> None:
    """A new password (and the account enabled again); ends the person's sessions."""
    username = username.lower()
    _check_new_password(password, username)
    row = conn.execute(
        "UPDATE bbx_users SET password_hash = %s, password_set_at = now(), disabled_at = NULL"
        " WHERE username = %s RETURNING id, tenant_id", (hash_password(password), username)).fetchone()
    if row is None:
        raise AccountError(_("no user {name} (bbx users list)", name=repr(username)))
    conn.execute("DELETE FROM web_sessions WHERE user_id = %s", (row["id"],))
    audit.record(conn, actor=actor, action="user.password_reset", tenant_id=row["tenant_id"],
                 details={"username": username})


def new_password() -> str:
    return secrets.token_urlsafe(15)


# --------------------------------------------------------------------------- page sessions


def start_session(conn, user: User) -> str:
    """A new page session for a signed-in person; returns the cookie value."""
    token = secrets.token_urlsafe(32)
    conn.execute("DELETE FROM web_sessions WHERE expires_at < now()")
    conn.execute("INSERT INTO web_sessions (token_sha256, user_id, expires_at) VALUES (%s, %s, now() + %s)",
                 (secret_digest(token), user.user_id, SESSION_LIFETIME))
    audit.record(conn, actor=user.actor, action="web_session.started", tenant_id=user.tenant_id)
    return token


def session_user(conn, token: str) -> User | None:
    if not token or len(token) > 200:
        return None
    row = conn.execute(
        f"""{_USER_SQL} JOIN web_sessions s ON s.user_id = u.id
            WHERE s.token_sha256 = %s AND s.expires_at > now() AND u.disabled_at IS NULL""",
        (secret_digest(token),)).fetchone()
    return _user(row) if row else None


def end_session(conn, token: str) -> None:
    """Sign out: the page session ends (a person's; sessions of keys are no longer made)."""
    owner = session_user(conn, token or "")
    conn.execute("DELETE FROM web_sessions WHERE token_sha256 = %s", (secret_digest(token or ""),))
    if owner is not None:
        audit.record(conn, actor=owner.actor, action="web_session.ended", tenant_id=owner.tenant_id)


def sign_in_refused(conn, username: str) -> None:
    """A page sign-in with an unknown user name, a wrong password or a disabled account
    (the user name as typed, cut short; never the password)."""
    audit.refused(conn, actor="anonymous", action="web_session.refused",
                  reason="unknown user, wrong password or disabled account", details={"user": username[:64]})
