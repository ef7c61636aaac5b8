"""Passwords (argon2id), JWT access tokens (HS256), users and API keys."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import secrets
import time
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import jwt
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from cloud.audit.service import PERSONAL_FIELDS, record
from cloud.auth.principal import Principal, Role, check_role_county
from cloud.auth.storage import ApiKey, ApiKeyShop, User
from cloud.db.base import utcnow
from cloud.pagination import Key, Page, PageParams, fetch_page

#: argon2id with argon2-cffi's RFC 9106 "low memory" defaults.
_hasher = PasswordHasher()
# Verified against when the username does not exist, so timing does not tell.
_DUMMY_HASH = _hasher.hash("dehong-no-such-user")

JWT_ALGORITHM = "HS256"
API_KEY_PREFIX = "dhk"
MIN_PASSWORD_LENGTH = 10


class AuthError(Exception):
    """Credentials refused; the message says why (never shown verbatim to clients)."""


# ---------------------------------------------------------------- passwords


def hash_password(password: str) -> str:
    return _hasher.hash(password)


async def hash_password_async(password: str) -> str:
    """:func:`hash_password` in a worker thread: argon2id takes tens of milliseconds
    of CPU and its memory, which must not stall the event loop."""
    return await asyncio.to_thread(hash_password, password)


async def verify_password_async(password: str, hashed: str) -> bool:
    return await asyncio.to_thread(verify_password, password, hashed)


def verify_password(password: str, hashed: str) -> bool:
    try:
        return _hasher.verify(hashed, password)
    except (VerificationError, InvalidHashError):
        return False


def check_password_strength(password: str) -> None:
    if len(password) < MIN_PASSWORD_LENGTH:
        raise ValueError(f"password too short: use at least {MIN_PASSWORD_LENGTH} characters")


def generate_password() -> str:
    return secrets.token_urlsafe(15)


# -------------------------------------------------------------------- tokens


def issue_token(
    user: User, secret: str, ttl_s: int, *, now: float | None = None
) -> tuple[str, int]:
    """A signed access token for ``user`` and its lifetime in seconds."""
    iat = int(time.time() if now is None else now)
    claims = {
        "sub": user.username,
        "role": user.role,
        "county": user.county,
        "tv": user.token_version or 0,
        "iat": iat,
        "exp": iat + ttl_s,
    }
    return jwt.encode(claims, secret, algorithm=JWT_ALGORITHM), ttl_s


def decode_token(token: str, secret: str) -> dict[str, Any]:
    try:
        claims: dict[str, Any] = jwt.decode(
            token,
            secret,
            algorithms=[JWT_ALGORITHM],
            options={"require": ["sub", "role", "county", "tv", "exp", "iat"]},
        )
    except jwt.ExpiredSignatureError:
        raise AuthError("token expired; request a new one at /api/v1/auth/token") from None
    except jwt.InvalidTokenError as exc:
        raise AuthError(f"invalid token: {exc}") from None
    return claims


# --------------------------------------------------------------------- users


async def get_user(session: AsyncSession, username: str) -> User | None:
    return (
        await session.execute(select(User).where(User.username == username))
    ).scalar_one_or_none()


async def authenticate(session: AsyncSession, username: str, password: str) -> User:
    """The user whose password this is; AuthError otherwise. Upgrades old hashes."""
    user = await get_user(session, username)
    if user is None:
        await verify_password_async(password, _DUMMY_HASH)
        raise AuthError("unknown user or wrong password")
    if not await verify_password_async(password, user.password_hash):
        raise AuthError("unknown user or wrong password")
    if user.disabled:
        raise AuthError("user disabled")
    if _hasher.check_needs_rehash(user.password_hash):
        user.password_hash = await hash_password_async(password)
        await session.commit()
    return user


async def principal_from_token(session: AsyncSession, token: str, secret: str) -> Principal:
    """The principal of a bearer token. The user row is authoritative: a disabled or
    deleted user, or one whose role or county changed, loses access at once."""
    claims = decode_token(token, secret)
    user = await get_user(session, str(claims["sub"]))
    if user is None or user.disabled:
        raise AuthError("user no longer active")
    if user.role != claims["role"] or user.county != claims["county"]:
        raise AuthError("role or county changed since the token was issued; log in again")
    if claims["tv"] != (user.token_version or 0):
        raise AuthError("password changed since the token was issued; log in again")
    return Principal("user", user.username, Role(user.role), user.county, user.org_id)


async def create_user(
    session: AsyncSession,
    *,
    username: str,
    password: str,
    role: Role,
    county: str,
    display_name: str = "",
    org_id: str | None = None,
    actor: str,
) -> User:
    """Create a user and audit it; the caller commits. ValueError on bad input or a taken name."""
    check_role_county(role, county, org_id)
    check_password_strength(password)
    if await get_user(session, username) is not None:
        raise ValueError(f"username {username!r} is taken; choose another")
    user = User(
        username=username,
        password_hash=await hash_password_async(password),
        role=role.value,
        county=county,
        display_name=display_name,
        disabled=False,
        created_at=utcnow(),
        token_version=0,
        org_id=org_id,
    )
    session.add(user)
    await session.flush()
    await record(
        session,
        actor,
        "user.created",
        f"user:{username}",
        county,
        {"role": role.value, "org_id": org_id},
        personal_changed=["display_name"] if display_name else [],
    )
    return user


async def update_user(
    session: AsyncSession,
    user: User,
    *,
    changes: dict[str, Any],
    actor: str,
) -> list[str]:
    """Apply ``changes`` (display_name, role, org_id, disabled) and audit them; the
    caller commits. A change of role, organisation or disabled revokes the user's
    tokens. The audit entry names a changed personal field, never its value.
    ValueError when the role does not fit the county or organisation."""
    role = Role(changes.get("role", user.role))
    org_id = changes["org_id"] if "org_id" in changes else user.org_id
    check_role_county(role, user.county, org_id)
    changed = [k for k, v in changes.items() if getattr(user, k) != v]
    for key in changed:
        setattr(user, key, changes[key])
    if {"role", "org_id", "disabled"} & set(changed):
        user.token_version = (user.token_version or 0) + 1
    personal = [k for k in changed if k in PERSONAL_FIELDS]
    await record(
        session,
        actor,
        "user.updated",
        f"user:{user.username}",
        user.county,
        {k: changes[k] for k in changed if k not in PERSONAL_FIELDS},
        personal_changed=personal,
    )
    return changed


async def change_password(
    session: AsyncSession, user: User, current: str, new: str, *, actor: str
) -> None:
    """Set a new password and revoke every token issued before (token version + 1)."""
    if not await verify_password_async(current, user.password_hash):
        raise AuthError("current password is wrong")
    check_password_strength(new)
    user.password_hash = await hash_password_async(new)
    user.token_version = (user.token_version or 0) + 1
    await record(session, actor, "user.password_changed", f"user:{user.username}", user.county, {})


USER_KEYS = (Key(User.username),)
API_KEY_KEYS = (Key(ApiKey.created_at, kind=datetime), Key(ApiKey.id))


async def list_users(
    session: AsyncSession, counties: list[str] | None, page: PageParams
) -> Page[User]:
    q = select(User)
    if counties is not None:
        q = q.where(User.county.in_(counties))
    return await fetch_page(session, q, USER_KEYS, page)


# ------------------------------------------------------------------ API keys


@dataclass(frozen=True, slots=True)
class NewApiKey:
    row: ApiKey
    #: The full key ``dhk_<id>_<secret>``; shown once, never stored.
    key: str


def _secret_hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


async def create_api_key(
    session: AsyncSession,
    *,
    name: str,
    role: Role,
    county: str,
    actor: str,
    org_id: str | None = None,
) -> NewApiKey:
    check_role_county(role, county, org_id)
    key_id = secrets.token_hex(6)
    secret = secrets.token_urlsafe(32)
    row = ApiKey(
        id=key_id,
        name=name,
        secret_hash=_secret_hash(secret),
        role=role.value,
        county=county,
        created_by=actor[:64],
        created_at=utcnow(),
        org_id=org_id,
    )
    session.add(row)
    await session.flush()
    await record(
        session, actor, "apikey.created", f"apikey:{key_id}", county,
        {"name": name, "role": role.value},
    )  # fmt: skip
    return NewApiKey(row, f"{API_KEY_PREFIX}_{key_id}_{secret}")


async def revoke_api_key(session: AsyncSession, row: ApiKey, *, actor: str) -> None:
    if row.revoked_at is None:
        row.revoked_at = utcnow()
        await record(
            session, actor, "apikey.revoked", f"apikey:{row.id}", row.county, {"name": row.name}
        )


async def principal_from_api_key(session: AsyncSession, key: str) -> Principal:
    prefix, _, rest = key.partition("_")
    key_id, _, secret = rest.partition("_")
    if prefix != API_KEY_PREFIX or not key_id or not secret:
        raise AuthError("malformed API key; expected dhk_<id>_<secret>")
    row = await session.get(ApiKey, key_id)
    if row is None or not hmac.compare_digest(row.secret_hash, _secret_hash(secret)):
        raise AuthError("unknown API key")
    if row.revoked_at is not None:
        raise AuthError("API key revoked")
    role = Role(row.role)
    shops = None
    if role is Role.PLATFORM:  # a platform's key acts for its granted shops only
        shops = frozenset(
            await session.scalars(select(ApiKeyShop.shop_id).where(ApiKeyShop.key_id == row.id))
        )
    return Principal("apikey", row.id, role, row.county, row.org_id, shops)


async def list_api_keys(
    session: AsyncSession, counties: list[str] | None, page: PageParams
) -> Page[ApiKey]:
    q = select(ApiKey)
    if counties is not None:
        q = q.where(ApiKey.county.in_(counties))
    return await fetch_page(session, q, API_KEY_KEYS, page)
