"""Who a caller is, once authenticated (``bbx.api.auth`` decides; every route and page
reads it). Kept apart so the ways of signing in (keys and sessions in ``auth``, client
certificates in ``client_certs``) build the same thing without importing each other."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from bbx.store import api_keys, users


@dataclass(frozen=True)
class Principal:
    actor: str  # recorded as submitted_by / audit actor: "api-key:<prefix>", "user:<name>" or "airflow:<user>"
    role: str  # 'tenant' | 'operator' | 'auditor'
    tenant_id: int | None
    tenant_code: str | None
    label: str  # for people: who is signed in
    via: str  # 'api_key' | 'session' | 'airflow' | 'client_cert'
    scope: str = "full"  # 'full' | 'person_view' (bbx.store.api_keys)
    key_kind: str = "live"  # 'live' | 'test': a test key's hand-ins are sandbox submissions

    @property
    def sandbox(self) -> bool:
        """Hand-ins of this caller are sandbox submissions (a *test* API key)."""
        return self.key_kind == "test"

    @property
    def is_operator(self) -> bool:
        return self.role == "operator"

    @property
    def is_auditor(self) -> bool:
        return self.role == "auditor"

    @property
    def all_tenants(self) -> bool:
        """Operators and auditors see every tenant (auditors only read)."""
        return self.role in ("operator", "auditor")

    @property
    def personal_content(self) -> bool:
        """May see texts, PDFs, full BSNs and look BSNs up: not an auditor."""
        return self.role != "auditor"

    @property
    def is_person(self) -> bool:
        return self.via != "api_key"

    @classmethod
    def from_user(cls, user: users.User, via: str) -> Principal:
        who = user.tenant_code if user.role == "tenant" else user.role
        return cls(user.actor, user.role, user.tenant_id, user.tenant_code,
                   f"{user.full_name or user.username} ({who})", via)

    @classmethod
    def from_owner(cls, owner: api_keys.KeyOwner, via: str) -> Principal:
        who = owner.tenant_code if owner.role == "tenant" else "operator"
        return cls(owner.actor, owner.role, owner.tenant_id, owner.tenant_code,
                   f"{owner.name} ({who}, key {owner.prefix})", via, owner.scope, owner.kind)
