"""Staff accounts, passwords (argon2), log-in sessions, lock-out and CSRF tokens."""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass
from datetime import timedelta

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import delete, select

from actions.handoff_store import session_for, utcnow
from console.models import StaffSession, StaffUser

_hasher = PasswordHasher()
# Checked when the user name is unknown, so the answer takes as long as for a known one.
_UNKNOWN_USER_HASH = _hasher.hash(secrets.token_hex(16))

USERNAME = re.compile(r"^[a-z0-9._-]{2,80}$")
MIN_PASSWORD_LENGTH = 12


class AccountError(ValueError):
    """A user name or password that cannot be used; the message says why."""


def create_user(url: str, username: str, display_name: str, password: str) -> StaffUser:
    username = username.strip().lower()
    if not USERNAME.match(username):
        raise AccountError("User names are 2-80 characters: lower-case letters, digits, . _ -")
    if len(password) < MIN_PASSWORD_LENGTH:
        raise AccountError(f"Passwords need at least {MIN_PASSWORD_LENGTH} characters.")
    with session_for(url) as session, session.begin():
        if session.scalar(select(StaffUser).where(StaffUser.username == username)):
            raise AccountError(f"There is already a user called {username}.")
        user = StaffUser(
            username=username,
            display_name=display_name.strip() or username,
            password_hash=_hasher.hash(password),
            created_at=utcnow(),
        )
        session.add(user)
    return user


@dataclass(frozen=True)
class LoginResult:
    user: StaffUser | None
    locked: bool = False


def authenticate(
    url: str, username: str, password: str, max_failures: int, lockout: timedelta
) -> LoginResult:
    """The user if the password is right; after `max_failures` wrong ones in a row the
    account is locked for `lockout`, whatever is typed."""
    now = utcnow()
    with session_for(url) as session, session.begin():
        user = session.scalar(
            select(StaffUser).where(StaffUser.username == username.strip().lower())
        )
        if user is None:
            _verify(_UNKNOWN_USER_HASH, password)
            return LoginResult(None)
        if user.locked_until and user.locked_until > now:
            return LoginResult(None, locked=True)
        if not _verify(user.password_hash, password):
            user.failed_logins = (user.failed_logins or 0) + 1
            if user.failed_logins >= max_failures:
                user.locked_until = now + lockout
                user.failed_logins = 0
                return LoginResult(None, locked=True)
            return LoginResult(None)
        user.failed_logins = 0
        user.locked_until = None
        if _hasher.check_needs_rehash(user.password_hash):
            user.password_hash = _hasher.hash(password)
        return LoginResult(user)


def _verify(password_hash: str, password: str) -> bool:
    try:
        return _hasher.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def start_session(url: str, user_id: int, lifetime: timedelta) -> str:
    """A new session; returns the token for the cookie (only its hash is stored)."""
    token = secrets.token_urlsafe(32)
    now = utcnow()
    with session_for(url) as session, session.begin():
        session.execute(delete(StaffSession).where(StaffSession.expires_at <= now))
        session.add(
            StaffSession(
                token_hash=_digest(token),
                csrf_token=secrets.token_urlsafe(32),
                user_id=user_id,
                created_at=now,
                expires_at=now + lifetime,
            )
        )
    return token


def find_session(url: str, token: str | None) -> StaffSession | None:
    if not token:
        return None
    with session_for(url) as session:
        found = session.scalar(
            select(StaffSession).where(StaffSession.token_hash == _digest(token))
        )
        if found is None or found.expires_at <= utcnow():
            return None
        return found


def end_session(url: str, token: str | None) -> None:
    if token:
        with session_for(url) as session, session.begin():
            session.execute(delete(StaffSession).where(StaffSession.token_hash == _digest(token)))


def same_token(expected: str | None, given: str | None) -> bool:
    return bool(expected and given) and hmac.compare_digest(str(expected), str(given))
