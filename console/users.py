"""Staff accounts for the coordinators' console.

    python -m console.users add USERNAME --name "Full Name" [--role admin]
                                                  (asks for the password)
    python -m console.users list
    python -m console.users disable USERNAME      no more log-ins; its sessions end now
    python -m console.users enable USERNAME
    python -m console.users remove USERNAME       deletes the account and its sessions
    python -m console.users role USERNAME admin|coordinator
    python -m console.users logout USERNAME       ends every session of the account

`make staff-user USERNAME=...` runs the first. For scripts, the password can come from
CART_STAFF_PASSWORD instead of the prompt. Every change is written to the audit log.
"""

from __future__ import annotations

import argparse
import getpass
import os
import sys

from sqlalchemy import delete, select

from console import audit
from console.auth import MIN_PASSWORD_LENGTH, AccountError, create_user, end_sessions_of, normalise
from console.models import ROLES, StaffSession, StaffUser, console_session
from core.handoff_store import utcnow
from core.settings import load_console_settings


def _password() -> str:
    given = os.environ.get("CART_STAFF_PASSWORD")
    if given:
        return given
    first = getpass.getpass(f"Password (at least {MIN_PASSWORD_LENGTH} characters): ")
    if getpass.getpass("The same password again: ") != first:
        raise AccountError("The two passwords are not the same.")
    return first


def _user_id(url: str, username: str) -> int:
    with console_session(url) as session:
        user_id = session.scalar(
            select(StaffUser.id).where(StaffUser.username == normalise(username))
        )
    if user_id is None:
        raise AccountError(f"There is no user called {normalise(username)}.")
    return user_id


def disable_user(url: str, username: str, actor: str) -> int:
    """The account can no longer log in and its sessions end; returns how many ended."""
    user_id = _user_id(url, username)
    with console_session(url) as session, session.begin():
        session.get(StaffUser, user_id).disabled_at = utcnow()
    ended = end_sessions_of(url, user_id)
    audit.record(url, actor, "account_disabled", detail=normalise(username))
    return ended


def enable_user(url: str, username: str, actor: str) -> None:
    user_id = _user_id(url, username)
    with console_session(url) as session, session.begin():
        session.get(StaffUser, user_id).disabled_at = None
    audit.record(url, actor, "account_enabled", detail=normalise(username))


def remove_user(url: str, username: str, actor: str) -> None:
    """Deletes the account and its sessions (the audit log keeps the name it recorded)."""
    user_id = _user_id(url, username)
    with console_session(url) as session, session.begin():
        session.execute(delete(StaffSession).where(StaffSession.user_id == user_id))
        session.execute(delete(StaffUser).where(StaffUser.id == user_id))
    audit.record(url, actor, "account_removed", detail=normalise(username))


def set_role(url: str, username: str, role: str, actor: str) -> None:
    if role not in ROLES:
        raise AccountError(f"A role is one of: {', '.join(ROLES)}.")
    user_id = _user_id(url, username)
    with console_session(url) as session, session.begin():
        session.get(StaffUser, user_id).role = role
    end_sessions_of(url, user_id)  # the new role applies from the next log-in on
    audit.record(url, actor, "role", detail=f"{normalise(username)}: {role}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Staff accounts for the coordinators' console.")
    commands = parser.add_subparsers(dest="command", required=True)
    add = commands.add_parser("add", help="create an account")
    add.add_argument("username")
    add.add_argument("--name", default="", help="the name families and colleagues see")
    add.add_argument("--role", default="coordinator", choices=ROLES)
    commands.add_parser("list", help="list the accounts")
    for command, help_text in (
        ("disable", "stop an account from logging in and end its sessions"),
        ("enable", "let a disabled account log in again"),
        ("remove", "delete an account and its sessions"),
        ("logout", "end every session of an account"),
    ):
        commands.add_parser(command, help=help_text).add_argument("username")
    role = commands.add_parser("role", help="change an account's role")
    role.add_argument("username")
    role.add_argument("role", choices=ROLES)
    args = parser.parse_args(argv)
    url = load_console_settings().database_url
    actor = f"cli:{os.environ.get('USER') or 'unknown'}"  # who ran the command

    if args.command == "list":
        with console_session(url) as session:
            for user in session.scalars(select(StaffUser).order_by(StaffUser.username)):
                disabled = " (disabled)" if user.disabled_at else ""
                print(f"{user.username}\t{user.display_name}\t{user.role}{disabled}")
        return 0
    try:
        if args.command == "add":
            user = create_user(
                url, args.username, args.name or args.username, _password(), args.role
            )
            audit.record(url, actor, "account_created", detail=f"{user.username}: {user.role}")
            print(f"Created {user.username} ({user.display_name}, {user.role}).")
        elif args.command == "disable":
            ended = disable_user(url, args.username, actor)
            print(f"Disabled {normalise(args.username)}; {ended} session(s) ended.")
        elif args.command == "enable":
            enable_user(url, args.username, actor)
            print(f"Enabled {normalise(args.username)}.")
        elif args.command == "remove":
            remove_user(url, args.username, actor)
            print(f"Removed {normalise(args.username)} and its sessions.")
        elif args.command == "logout":
            ended = end_sessions_of(url, _user_id(url, args.username))
            audit.record(url, actor, "sessions_ended", detail=normalise(args.username))
            print(f"{ended} session(s) of {normalise(args.username)} ended.")
        else:
            set_role(url, args.username, args.role, actor)
            print(f"{normalise(args.username)} is now {args.role}.")
    except AccountError as error:
        print(error, file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
