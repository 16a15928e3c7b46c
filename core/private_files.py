"""Local files that hold what families wrote (var/: conversations.db, handoffs.db, the data
key) readable by the project's own user only: directories 0700, files 0600.

A shared machine (a developer's box, a CI runner) has other users; the process's umask
(often 022) would make new files world-readable, so modes are set explicitly.
"""

from __future__ import annotations

import os
from pathlib import Path

from sqlalchemy.engine import URL, make_url

DIRECTORY_MODE = 0o700
FILE_MODE = 0o600


def private_directory(path: Path) -> Path:
    """Creates `path` and any missing parents 0700. Existing directories are left as they
    are (a parent such as /tmp is not ours to change): the files in them are 0600."""
    missing = []
    for directory in [path, *path.parents]:
        if directory.exists():
            break
        missing.append(directory)
    for directory in reversed(missing):
        directory.mkdir(mode=DIRECTORY_MODE, exist_ok=True)
        os.chmod(directory, DIRECTORY_MODE)  # mkdir's mode is masked by the umask
    return path


def private_file(path: Path) -> Path:
    """Creates `path` (and its directory) 0600, or tightens an existing file of ours."""
    private_directory(path.parent)
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT, FILE_MODE)
    try:
        os.fchmod(descriptor, FILE_MODE)
    finally:
        os.close(descriptor)
    return path


def private_sqlite(url: str | URL) -> None:
    """For a SQLite database URL: its file created 0600 before SQLite opens it (SQLite
    gives its -wal and -shm files the same mode). Other databases: nothing to do."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite" and parsed.database not in (None, "", ":memory:"):
        private_file(Path(parsed.database))
