"""The project's single way to start Rasa: `python -m components.rasa_server <rasa command>`.

The same arguments as the `rasa` command (`run`, `shell`, `test`, ...), with two things
done first:
- the installed Rasa's version is checked and every patch of components/rasa_fixes.py is
  applied explicitly; on another Rasa version it stops with one line instead of starting;
- optional packages that Rasa never uses are kept from loading (`skip_unused_imports`);
- with `--enable-api`, the HTTP API's token is taken from CART_RASA_API_TOKEN.
  `rasa run --enable-api --auth-token TOKEN` puts the token on the command line, where
  any local user can read it (`ps`, /proc/<pid>/cmdline); started through this module,
  the process's command line never holds it. Without `--enable-api` nothing is added,
  and the API stays off.

The Makefile (through scripts/devstack.py), the tests (tests/servers.py), the Dockerfile,
compose and the Helm values all start Rasa this way. A plain `rasa run` in the project
gets the same patches when it loads the NLG named in endpoints.yml (components/program_nlg.py).
"""

from __future__ import annotations

import os
import sys

TOKEN_VARIABLE = "CART_RASA_API_TOKEN"

# Installed as a dependency of TensorFlow 2.12 but never used by Rasa, and imported only
# inside `try: ... except ImportError` (TF Lite's `from jax import xla_computation`): it
# cost about 2 s of every start (`python -X importtime`, docs/performance.md).
UNUSED_OPTIONAL_PACKAGES = ("jax",)


def skip_unused_imports() -> None:
    """Makes `import jax` fail fast (a None entry in sys.modules raises ImportError), so
    TensorFlow takes its own without-jax path. Must run before TensorFlow is imported."""
    for name in UNUSED_OPTIONAL_PACKAGES:
        sys.modules.setdefault(name, None)  # type: ignore[arg-type]


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


def main(arguments: list[str]) -> None:
    skip_unused_imports()
    # Imported here: importing Rasa takes seconds, and the token check above is cheap.
    from rasa.__main__ import main as rasa_main

    from components import rasa_fixes

    try:
        rasa_fixes.apply()
    except rasa_fixes.UnsupportedRasaVersion as error:
        raise SystemExit(str(error)) from None
    sys.argv = ["rasa", *command_with_token(arguments, os.environ.get(TOKEN_VARIABLE))]
    rasa_main()


if __name__ == "__main__":
    main(sys.argv[1:])
