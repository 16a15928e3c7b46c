"""Staff accounts for the coordinators' console.

    python -m console.users add USERNAME --name "Full Name"    (asks for the password)
    python -m console.users list

`make staff-user USERNAME=...` runs the first. For scripts, the password can come from
CART_STAFF_PASSWORD instead of the prompt.
"""

from __future__ import annotations

import argparse
import getpass
import os
import sys

from sqlalchemy import select

import console.models  # noqa: F401 - registers the console's tables before they are created
from actions.handoff_store import session_for
from actions.settings import load_console_settings
from console.auth import MIN_PASSWORD_LENGTH, AccountError, create_user
from console.models import StaffUser


def _password() -> str:
    given = os.environ.get("CART_STAFF_PASSWORD")
    if given:
        return given
    first = getpass.getpass(f"Password (at least {MIN_PASSWORD_LENGTH} characters): ")
    if getpass.getpass("The same password again: ") != first:
        raise AccountError("The two passwords are not the same.")
    return first


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Staff accounts for the coordinators' console.")
    commands = parser.add_subparsers(dest="command", required=True)
    add = commands.add_parser("add", help="create an account")
    add.add_argument("username")
    add.add_argument("--name", default="", help="the name families and colleagues see")
    commands.add_parser("list", help="list the accounts")
    args = parser.parse_args(argv)
    url = load_console_settings().database_url

    if args.command == "list":
        with session_for(url) as session:
            for user in session.scalars(select(StaffUser).order_by(StaffUser.username)):
                locked = " (locked)" if user.locked_until else ""
                print(f"{user.username}\t{user.display_name}{locked}")
        return 0
    try:
        user = create_user(url, args.username, args.name or args.username, _password())
    except AccountError as error:
        print(error, file=sys.stderr)
        return 1
    print(f"Created {user.username} ({user.display_name}).")
    return 0


if __name__ == "__main__":
    sys.exit(main())
