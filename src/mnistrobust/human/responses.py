"""The SQLite store of the experiment's answers: one row per subject and image, written at once.

WAL mode lets the page read while other subjects write; each answer is one short
``BEGIN IMMEDIATE`` transaction, and the primary key (subject, image) makes a resubmitted
answer a no-op, so a flaky network or a reload never stores an answer twice. The database
remembers the digest of the stimulus file it was recorded against (answers are meaningless
with other images) and whether it holds simulated subjects (tests only): the two never mix.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd

from ..errors import DataError

PathLike = str | os.PathLike

SCHEMA = """
CREATE TABLE IF NOT EXISTS study (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS subjects (
    subject_id TEXT PRIMARY KEY,
    consented_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS answers (
    subject_id TEXT NOT NULL REFERENCES subjects (subject_id),
    image_id INTEGER NOT NULL CHECK (image_id >= 0),
    answer INTEGER NOT NULL CHECK (answer BETWEEN 0 AND 9),
    response_ms INTEGER NOT NULL CHECK (response_ms >= 0),
    answered_at TEXT NOT NULL,
    PRIMARY KEY (subject_id, image_id)
);
"""
ANSWER_COLUMNS = ["subject_id", "image_id", "answer", "response_ms", "answered_at"]
BUSY_TIMEOUT_S = 30


class AnswerConflict(Exception):
    """The image was already answered differently; the first answer stands."""


@dataclass(frozen=True)
class Recorded:
    stored: bool  # False: the same answer was already there (an idempotent resubmit)


def now_utc() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds")


def _connect(path: Path) -> sqlite3.Connection:
    # isolation_level=None: transactions are opened explicitly, never implicitly.
    connection = sqlite3.connect(path, timeout=BUSY_TIMEOUT_S, isolation_level=None)
    connection.execute("PRAGMA foreign_keys = ON")
    return connection


class ResponseStore:
    """Answers of one study, bound to the digest of its stimulus file."""

    def __init__(self, path: PathLike, stimuli_digest: str, simulated: bool = False):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self._transaction() as db:
            db.execute("PRAGMA journal_mode = WAL")  # persistent: set once, holds for every later connection
            db.execute("BEGIN IMMEDIATE")
            for statement in SCHEMA.split(";"):
                if statement.strip():
                    db.execute(statement)
            self._bind(db, "stimuli_digest", stimuli_digest, "was recorded against another stimulus file")
            self._bind(db, "simulated", "yes" if simulated else "no", "mixes simulated and real subjects")
            db.execute("COMMIT")

    @contextlib.contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        connection = _connect(self.path)
        try:
            yield connection
        except BaseException:
            if connection.in_transaction:
                connection.execute("ROLLBACK")
            raise
        finally:
            connection.close()

    def _bind(self, db: sqlite3.Connection, key: str, value: str, problem: str) -> None:
        row = db.execute("SELECT value FROM study WHERE key = ?", (key,)).fetchone()
        if row is None:
            db.execute("INSERT INTO study (key, value) VALUES (?, ?)", (key, value))
        elif row[0] != value:
            raise DataError(
                f"response database {self.path} {problem} ({key} is {row[0]!r}, here {value!r}); use another --db"
            )

    def register(self, subject_id: str) -> None:
        """Record the subject's consent (once; a returning subject keeps the first time)."""
        with self._transaction() as db:
            db.execute(
                "INSERT OR IGNORE INTO subjects (subject_id, consented_at) VALUES (?, ?)", (subject_id, now_utc())
            )

    def is_registered(self, subject_id: str) -> bool:
        with self._transaction() as db:
            return db.execute("SELECT 1 FROM subjects WHERE subject_id = ?", (subject_id,)).fetchone() is not None

    def answered(self, subject_id: str) -> set[int]:
        with self._transaction() as db:
            return {row[0] for row in db.execute("SELECT image_id FROM answers WHERE subject_id = ?", (subject_id,))}

    def record(self, subject_id: str, image_id: int, answer: int, response_ms: int) -> Recorded:
        """Store one answer in its own transaction; resubmitting the same answer stores nothing."""
        with self._transaction() as db:
            db.execute("BEGIN IMMEDIATE")
            row = db.execute(
                "SELECT answer FROM answers WHERE subject_id = ? AND image_id = ?", (subject_id, image_id)
            ).fetchone()
            if row is not None:
                db.execute("ROLLBACK")
                if row[0] != answer:
                    raise AnswerConflict(f"image {image_id} was already answered {row[0]}; the first answer stands")
                return Recorded(stored=False)
            db.execute(
                "INSERT INTO answers (subject_id, image_id, answer, response_ms, answered_at) VALUES (?, ?, ?, ?, ?)",
                (subject_id, image_id, answer, response_ms, now_utc()),
            )
            db.execute("COMMIT")
            return Recorded(stored=True)


@dataclass(frozen=True)
class Responses:
    """Everything read back from a database or an exported CSV."""

    answers: pd.DataFrame  # ANSWER_COLUMNS
    stimuli_digest: str | None
    simulated: bool


def read_database(path: PathLike) -> Responses:
    """The answers of a response database, opened read-only (the server may be running)."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"response database {path} does not exist")
    try:
        connection = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True, timeout=BUSY_TIMEOUT_S)
        try:
            study = dict(connection.execute("SELECT key, value FROM study").fetchall())
            answers = pd.read_sql_query(
                f"SELECT {', '.join(ANSWER_COLUMNS)} FROM answers ORDER BY subject_id, image_id", connection
            )
        finally:
            connection.close()
    except (sqlite3.Error, pd.errors.DatabaseError) as exc:
        raise DataError(f"{path} is not a readable response database: {exc}") from exc
    return Responses(answers, study.get("stimuli_digest"), study.get("simulated") == "yes")
