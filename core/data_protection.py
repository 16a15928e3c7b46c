"""Encryption at rest of what families tell us in a handoff request.

Names, phone numbers, emails, what they need and the transcript are stored encrypted
with Fernet (AES-128-CBC with HMAC-SHA256, from `cryptography`). The keys come from the
environment (`CART_DATA_KEYS`, comma-separated, newest first); `MultiFernet` decrypts
with any of them and encrypts with the first, so a key is rotated by putting a new one
in front and running `python -m core.data_keys rotate`.

Locally, without CART_DATA_KEYS, a key is made once in var/data-key (mode 600): never
committed, and gone with `make clean`, which also removes the data it protects.

The Rasa servers keep conversations (the tracker store's events) encrypted the same way,
with keys of their own when CART_TRACKER_KEYS is set (deployments: the internet-facing
Rasa servers never hold the keys of the handoff requests), else with the keys above.
"""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path
from typing import Any

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from sqlalchemy.types import Text, TypeDecorator

from core.private_files import private_directory
from core.settings import PROJECT_ROOT

LOCAL_KEY_FILE = PROJECT_ROOT / "var" / "data-key"
# Marks a stored value as ours, so plain text from before encryption is still read.
PREFIX = "enc1:"


class DataKeyError(RuntimeError):
    """No usable key, or data that no configured key can read."""


def _local_key(path: Path = LOCAL_KEY_FILE) -> str:
    if not path.exists():
        # Several processes start together (action server, console, worker): the key is
        # written to a file of its own, then linked into place; the first link wins.
        private_directory(path.parent)
        draft = path.with_name(f".{path.name}.{os.getpid()}")
        descriptor = os.open(draft, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(descriptor, "w") as key_file:
            key_file.write(Fernet.generate_key().decode())
        try:
            os.link(draft, path)
        except FileExistsError:
            pass
        finally:
            draft.unlink()
    return path.read_text().strip()


@lru_cache(maxsize=4)
def _fernet(keys: str) -> MultiFernet:
    try:
        return MultiFernet([Fernet(key.strip().encode()) for key in keys.split(",") if key.strip()])
    except ValueError as error:
        raise DataKeyError("CART_DATA_KEYS holds a key that is not a Fernet key") from error


def data_keys() -> MultiFernet:
    return _fernet(os.environ.get("CART_DATA_KEYS", "").strip() or _local_key())


def tracker_keys() -> MultiFernet:
    """The keys of the conversations the Rasa servers store (components/encrypted_events.py)."""
    keys = os.environ.get("CART_TRACKER_KEYS", "").strip()
    return _fernet(keys) if keys else data_keys()


def encrypt(text: str, keys: MultiFernet | None = None) -> str:
    return PREFIX + (keys or data_keys()).encrypt(text.encode("utf-8")).decode("ascii")


def decrypt(stored: str, keys: MultiFernet | None = None) -> str:
    if not stored.startswith(PREFIX):
        return stored  # written before encryption was on
    try:
        token = stored[len(PREFIX) :].encode("ascii")
        return (keys or data_keys()).decrypt(token).decode("utf-8")
    except InvalidToken as error:
        raise DataKeyError("no configured key can read this value (CART_DATA_KEYS?)") from error


class EncryptedText(TypeDecorator):
    """A text column stored encrypted; the application reads and writes plain text."""

    impl = Text
    cache_ok = True

    def process_bind_param(self, value: str | None, dialect: Any) -> str | None:
        return None if value is None else encrypt(value)

    def process_result_value(self, value: str | None, dialect: Any) -> str | None:
        return None if value is None else decrypt(value)
