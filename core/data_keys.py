"""`python -m core.data_keys new-key | rotate`: make a data key, or re-encrypt every
handoff request with the newest key after a rotation (SECURITY.md). A command of its own,
so that the encryption (core/data_protection.py) and the store that uses it
(core/handoff_store.py) do not import each other."""

from __future__ import annotations

import sys

from cryptography.fernet import Fernet

from core.handoff_store import reencrypt_all
from core.settings import load_handoff_settings


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if args == ["new-key"]:
        print(Fernet.generate_key().decode())
        return 0
    if args == ["rotate"]:
        count = reencrypt_all(load_handoff_settings().database_url)
        print(f"Re-encrypted {count} requests with the newest key.")
        return 0
    print("usage: python -m core.data_keys new-key | rotate", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
