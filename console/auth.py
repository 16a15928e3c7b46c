"""Staff accounts, passwords (argon2), log-in with back-off, sessions and CSRF tokens.

Failed log-ins slow down, they never lock: after `max_failures` failures for one user
name (known or not) or from one network address, each further attempt waits, doubling
from 1 s up to `backoff_max_seconds`. An attacker can at most delay a coordinator by
that much, not lock the account out. Every failure answers the same, whether the user
exists, is disabled or typed a wrong password (the caller shows one message).
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import case, delete, select, update
from sqlalchemy.exc import IntegrityError

from console.models import ROLES, LoginFailure, StaffSession, StaffUser, console_session
from core.handoff_store import utcnow

_hasher = PasswordHasher()
# Checked when the user name is unknown, so the answer takes as long as for a known one.
_UNKNOWN_USER_HASH = _hasher.hash(secrets.token_hex(16))

USERNAME = re.compile(r"^[a-z0-9._-]{2,80}$")
MIN_PASSWORD_LENGTH = 12
# A key whose last failure is older than this starts again from zero.
FAILURE_MEMORY = timedelta(hours=1)


class AccountError(ValueError):
    """A user name or password that cannot be used; the message says why."""


def normalise(username: str) -> str:
    return username.strip().lower()


def create_user(
    url: str, username: str, display_name: str, password: str, role: str = "coordinator"
) -> StaffUser:
    username = normalise(username)
    if not USERNAME.match(username):
        raise AccountError("User names are 2-80 characters: lower-case letters, digits, . _ -")
    if len(password) < MIN_PASSWORD_LENGTH:
        raise AccountError(f"Passwords need at least {MIN_PASSWORD_LENGTH} characters.")
    if role not in ROLES:
        raise AccountError(f"A role is one of: {', '.join(ROLES)}.")
    with console_session(url) as session, session.begin():
        if session.scalar(select(StaffUser).where(StaffUser.username == username)):
            raise AccountError(f"There is already a user called {username}.")
        user = StaffUser(
            username=username,
            display_name=display_name.strip() or username,
            password_hash=_hasher.hash(password),
            created_at=utcnow(),
            role=role,
        )
        session.add(user)
    return user


@dataclass(frozen=True)
class LoginLimits:
    max_failures: int
    max_failures_per_address: int
    backoff_max_seconds: float


@dataclass(frozen=True)
class LoginResult:
    user: StaffUser | None
    # Refused without looking at the password: too many recent failures. Seconds to wait.
    retry_after: int = 0


def backoff_seconds(failures: int, free: int, most: float) -> float:
    """0 for the first `free` failures, then 1, 2, 4 ... seconds, at most `most`."""
    if failures < free:
        return 0.0
    return min(most, 2.0 ** min(failures - free, 30))


def _keys(username: str, address: str) -> dict[str, str]:
    return {"user": f"user:{normalise(username)[:150]}", "address": f"address:{address[:150]}"}


def _wait(url: str, keys: dict[str, str], limits: LoginLimits, now: datetime) -> float:
    """Seconds before another attempt for these keys is looked at (0: now)."""
    free = {"user": limits.max_failures, "address": limits.max_failures_per_address}
    wait = 0.0
    with console_session(url) as session:
        for kind, key in keys.items():
            row = session.get(LoginFailure, key)
            if row is None or row.last_failure_at < now - FAILURE_MEMORY:
                continue
            pause = backoff_seconds(row.failures, free[kind], limits.backoff_max_seconds)
            wait = max(wait, (row.last_failure_at + timedelta(seconds=pause) - now).total_seconds())
    return wait


def count_failure(url: str, key: str, now: datetime) -> None:
    """failures = failures + 1 in one UPDATE, so concurrent attempts are all counted."""
    bump = (
        update(LoginFailure)
        .where(LoginFailure.key == key)
        .values(
            failures=case(
                (LoginFailure.last_failure_at < now - FAILURE_MEMORY, 1),
                else_=LoginFailure.failures + 1,
            ),
            last_failure_at=now,
        )
        .execution_options(synchronize_session=False)
    )
    for _ in range(5):
        with console_session(url) as session, session.begin():
            if session.execute(bump).rowcount:
                return
        try:
            with console_session(url) as session, session.begin():
                session.add(LoginFailure(key=key, failures=1, last_failure_at=now))
            return
        except IntegrityError:
            continue  # another attempt made the row first: bump it
    raise RuntimeError("could not count a failed log-in")  # never silently uncounted


def failures_of(url: str, key: str) -> int:
    with console_session(url) as session:
        row = session.get(LoginFailure, key)
        return row.failures if row else 0


def authenticate(
    url: str, username: str, password: str, address: str, limits: LoginLimits
) -> LoginResult:
    """The user if the password is right and the account enabled; otherwise no user, and
    `retry_after` when the attempt was not even checked (back-off)."""
    now = utcnow()
    keys = _keys(username, address)
    wait = _wait(url, keys, limits, now)
    if wait > 0:
        return LoginResult(None, retry_after=max(1, int(wait + 0.999)))
    with console_session(url) as session, session.begin():
        user = session.scalar(select(StaffUser).where(StaffUser.username == normalise(username)))
        known = user is not None and user.disabled_at is None
        if known and _verify(user.password_hash, password):
            if _hasher.check_needs_rehash(user.password_hash):
                user.password_hash = _hasher.hash(password)
            session.execute(delete(LoginFailure).where(LoginFailure.key == keys["user"]))
            return LoginResult(user)
        if not known:
            _verify(_UNKNOWN_USER_HASH, password)  # the same time as for a known name
    failed_at = utcnow()  # after the slow hash: the back-off runs from the answer
    for key in keys.values():
        count_failure(url, key, failed_at)
    return LoginResult(None)


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
    with console_session(url) as session, session.begin():
        session.execute(delete(StaffSession).where(StaffSession.expires_at <= now))
        session.add(
            StaffSession(
                token_hash=_digest(token),
                csrf_token=secrets.token_urlsafe(32),
                user_id=user_id,
                created_at=now,
                expires_at=now + lifetime,
                last_seen_at=now,
            )
        )
    return token


def find_session(
    url: str, token: str | None, idle: timedelta, touch: bool = True
) -> StaffSession | None:
    """The live session of an enabled account for this cookie, or None. A session unused
    for `idle`, past its end, or whose account is gone or disabled ends here. `touch`:
    this request counts as use (the idle clock restarts)."""
    if not token:
        return None
    now = utcnow()
    with console_session(url) as session, session.begin():
        # An inner join: on SQLite, where foreign keys are not enforced, a session whose
        # account was deleted has no user row and is not found.
        found = session.scalar(
            select(StaffSession)
            .join(StaffUser, StaffSession.user_id == StaffUser.id)
            .where(StaffSession.token_hash == _digest(token))
        )
        if found is None:
            return None
        last_seen = found.last_seen_at or found.created_at
        if found.expires_at <= now or last_seen + idle <= now or found.user.disabled_at:
            session.delete(found)
            return None
        # Written at most every tenth of the idle time: not one write per page.
        if touch and now - last_seen >= idle / 10:
            found.last_seen_at = now
        return found


def end_session(url: str, token: str | None) -> None:
    if token:
        with console_session(url) as session, session.begin():
            session.execute(delete(StaffSession).where(StaffSession.token_hash == _digest(token)))


def end_sessions_of(url: str, user_id: int) -> int:
    """Logs an account out everywhere; returns how many sessions ended."""
    with console_session(url) as session, session.begin():
        return session.execute(delete(StaffSession).where(StaffSession.user_id == user_id)).rowcount


def same_token(expected: str | None, given: str | None) -> bool:
    return bool(expected and given) and hmac.compare_digest(str(expected), str(given))
