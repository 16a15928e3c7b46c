"""Conversation ids the socket.io channel issues, signed so that no client chooses one.

A conversation id is a bearer secret: whoever holds it may write to that conversation and
receive its answers (the socket joins the id's room). So the server makes every id (128
random bits) and signs it with a key only the Rasa servers hold: `<32 hex>.<32 hex>`, 65
characters, always. An id that is not exactly that, or whose signature does not match,
is replaced by a new one (a made-up or guessed id never reaches the tracker store, whose
column holds 255 characters).

The key: CART_SESSION_KEY (the same on every Rasa server), or, on one machine, a key
made once in var/session-key (readable by its owner only).
"""

from __future__ import annotations

import hashlib
import hmac
import os
import re
import secrets
from functools import lru_cache
from pathlib import Path

from core.settings import PROJECT_ROOT, load_channel_settings

KEY_FILE = PROJECT_ROOT / "var" / "session-key"
_ISSUED = re.compile(r"[0-9a-f]{32}\.[0-9a-f]{32}")
SESSION_ID_LENGTH = 65


def _signature(key: bytes, token: str) -> str:
    return hmac.new(key, f"cart-session:{token}".encode(), hashlib.sha256).hexdigest()[:32]


def issue(key: bytes) -> str:
    token = secrets.token_hex(16)
    return f"{token}.{_signature(key, token)}"


def is_issued(key: bytes, session_id: object) -> bool:
    """True only for an id this key signed (the format is checked before any hashing)."""
    if not isinstance(session_id, str) or not _ISSUED.fullmatch(session_id):
        return False
    token, signature = session_id.split(".")
    return hmac.compare_digest(signature, _signature(key, token))


def _key_from_file(path: Path) -> bytes:
    """The machine's key, made on first use. Written aside and linked into place, so
    servers starting together all read the one complete key."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if not path.exists():
        aside = path.with_name(f".{path.name}.{os.getpid()}")
        descriptor = os.open(aside, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(descriptor, "w") as handle:
            handle.write(secrets.token_hex(32))
        try:
            os.link(aside, path)
        except FileExistsError:
            pass  # another server was first: its key counts
        finally:
            aside.unlink()
    return path.read_text().strip().encode()


@lru_cache(maxsize=1)
def session_key() -> bytes:
    configured = load_channel_settings().session_key
    return configured.encode() if configured else _key_from_file(KEY_FILE)
