"""Opening the results database, transactions, and one-line messages for its failures."""

from __future__ import annotations

import contextlib
import errno
import shutil
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from coach.errors import CoachError

SCHEMA_VERSION = 2
DEFAULT_DB_NAME = "coach.sqlite"
# Writers from several processes (e.g. two batches into one OUT) wait this
# long for each other's transaction instead of failing at once. Readers do
# not count: with WAL they never block a writer.
BUSY_TIMEOUT_S = 60.0
# Below this many free bytes in the database's folder, an I/O error is a full disk.
_LOW_SPACE_BYTES = 1 << 20


class StoreError(CoachError):
    """The results database cannot be written or read (locked too long, disk full...)."""


# --- errors ----------------------------------------------------------------------------


def _low_on_space(folder: Path) -> bool:
    try:
        return shutil.disk_usage(folder).free < _LOW_SPACE_BYTES
    except OSError:
        return False


def _describe(exc: BaseException, db_path: Path, failed: str, timeout_s: float = BUSY_TIMEOUT_S) -> str:
    """One line for a database failure (`failed`: "could not save x.wav"); a full disk
    says "no space left on device" and names the folder that is full."""
    folder = db_path.parent
    code = getattr(exc, "sqlite_errorcode", None)
    full = code == sqlite3.SQLITE_FULL or (isinstance(exc, OSError) and exc.errno == errno.ENOSPC)
    io_error = code is not None and (code & 0xFF) == sqlite3.SQLITE_IOERR
    if full or ((io_error or isinstance(exc, OSError)) and _low_on_space(folder)):
        return f"{folder}: no space left on device; {failed} ({db_path.name})"
    if code is not None and (code & 0xFF) == sqlite3.SQLITE_BUSY:
        return f"{db_path}: {failed}: the database stayed locked by another process (waited {timeout_s:g} s)"
    detail = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
    return f"{db_path}: {failed}: {detail}"


@contextmanager
def _connect(
    db_path: Path, timeout_s: float = BUSY_TIMEOUT_S, failed: str = "results database error"
) -> Iterator[sqlite3.Connection]:
    try:
        conn = sqlite3.connect(str(db_path), timeout=timeout_s, isolation_level=None)
    except sqlite3.Error as exc:
        raise StoreError(_describe(exc, db_path, "cannot open the results database")) from exc
    try:
        conn.execute("PRAGMA foreign_keys = ON")
        yield conn
    except sqlite3.Error as exc:
        raise StoreError(_describe(exc, db_path, failed)) from exc
    finally:
        conn.close()


@contextmanager
def _transaction(conn: sqlite3.Connection) -> Iterator[None]:
    """BEGIN IMMEDIATE ... COMMIT, rolled back on any error.

    SQLite rolls back by itself on some errors (a full disk); a second
    ROLLBACK would then fail with "no transaction is active" and hide the
    real cause, so roll back only a transaction that is still open.
    """
    conn.execute("BEGIN IMMEDIATE")
    try:
        yield
        conn.execute("COMMIT")
    except BaseException:
        if conn.in_transaction:
            with contextlib.suppress(sqlite3.Error):
                conn.execute("ROLLBACK")
        raise
