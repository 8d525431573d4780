"""The data folder and the files Parley keeps there are for the server's own user only.

The folder holds the SQLite database (every organisation's documents, answers and credential
digests, and its -wal and -shm companions) and the server secret. SQLite creates a new database
file 0644 whatever it is asked, and gives the -wal and -shm files the database file's mode, so
the database file is created here first, 0600, and SQLite opens that. An existing data folder or
file that group or others can read is tightened on start, with a warning for the folder.
"""

from __future__ import annotations

import logging
import os
import stat
from pathlib import Path

logger = logging.getLogger("parley")

FOLDER_MODE = 0o700
FILE_MODE = 0o600
_OPEN_TO_OTHERS = 0o077


def private_folder(path: Path) -> None:
    """Create ``path`` 0700 (missing parents get the usual mode), or tighten it to 0700."""
    path.mkdir(mode=FOLDER_MODE, parents=True, exist_ok=True)
    mode = stat.S_IMODE(path.stat().st_mode)
    if mode & _OPEN_TO_OTHERS:
        path.chmod(FOLDER_MODE)
        logger.warning("data folder %s was mode %o; tightened to %o", path, mode, FOLDER_MODE)


def private_file(path: Path) -> None:
    """Create ``path`` empty and 0600 if it does not exist, else take group and other access away."""
    try:
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, FILE_MODE))
    except FileExistsError:
        if stat.S_IMODE(path.stat().st_mode) & _OPEN_TO_OTHERS:
            path.chmod(FILE_MODE)


def private_sqlite_database(database: Path) -> None:
    """The database file and any -wal and -shm files left by an earlier run, all 0600."""
    private_file(database)
    for suffix in ("-wal", "-shm"):
        companion = database.with_name(database.name + suffix)
        if companion.exists():
            private_file(companion)


def write_private_text(path: Path, text: str) -> None:
    """Write a new file that is 0600 from its first byte (no window with a looser mode)."""
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, FILE_MODE)
    with os.fdopen(descriptor, "w") as file:
        file.write(text)
