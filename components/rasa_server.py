"""`rasa` with the HTTP API's token taken from CART_RASA_API_TOKEN.

`rasa run --enable-api --auth-token TOKEN` puts the token on the command line, where any
local user can read it (`ps`, /proc/<pid>/cmdline). Started as
`python -m components.rasa_server run ... --enable-api`, the same Rasa command gets the
token from the environment instead; the process's command line never holds it. Without
`--enable-api` nothing is added, and the API stays off.
"""

from __future__ import annotations

import os
import sys

from rasa.__main__ import main

TOKEN_VARIABLE = "CART_RASA_API_TOKEN"


def command_with_token(arguments: list[str], token: str | None) -> list[str]:
    """Rasa's arguments, with the token where the API is on. The API never runs open: with
    --enable-api and no token this stops with an explanation."""
    if "--enable-api" not in arguments or any(a.startswith("--auth-token") for a in arguments):
        return arguments
    if not token:
        raise SystemExit(f"--enable-api needs a token: set {TOKEN_VARIABLE}.")
    # One argument, "--auth-token=...": a token starting with "-" (token_urlsafe makes
    # one in 64) would otherwise be read by argparse as an option and stop Rasa.
    return [*arguments, f"--auth-token={token}"]


if __name__ == "__main__":
    sys.argv = ["rasa", *command_with_token(sys.argv[1:], os.environ.get(TOKEN_VARIABLE))]
    main()
