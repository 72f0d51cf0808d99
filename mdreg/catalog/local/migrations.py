"""Named, recorded schema migrations for SQLite (the sqlite-utils pattern).

    migrations = Migrations("catalog")

    @migrations
    def m001_create_tables(db): ...

Each migration runs once, in order, in its own ``BEGIN IMMEDIATE`` transaction together
with the row that records it in ``_mdreg_migrations``, so a crash mid-migration leaves
the database as it was before that step. A database carrying a migration this code
does not know was written by a newer mdreg, and is refused rather than guessed at.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from datetime import UTC, datetime

from mdreg.errors import MdregError

Step = Callable[[sqlite3.Connection], None]

_TABLE = "_mdreg_migrations"


class Migrations:
    def __init__(self, name: str) -> None:
        self.name = name
        self.steps: list[tuple[str, Step]] = []

    def __call__(self, fn: Step) -> Step:
        if any(name == fn.__name__ for name, _ in self.steps):
            raise ValueError(f"migration {fn.__name__} is defined twice")
        self.steps.append((fn.__name__, fn))
        return fn

    def applied(self, db: sqlite3.Connection) -> list[str]:
        try:
            rows = db.execute(
                f"SELECT name FROM {_TABLE} WHERE migration_set = ? ORDER BY applied_at, rowid",
                (self.name,),
            ).fetchall()
        except sqlite3.OperationalError as exc:
            if "no such table" in str(exc):
                return []
            raise
        return [r[0] for r in rows]

    def pending(self, db: sqlite3.Connection) -> list[str]:
        done = self.applied(db)
        unknown = [n for n in done if n not in {name for name, _ in self.steps}]
        if unknown:
            raise MdregError(
                f"the {self.name} database was upgraded by a newer mdreg "
                f"(migration {unknown[0]}): upgrade mdreg to use it"
            )
        return [name for name, _ in self.steps if name not in done]

    def apply(self, db: sqlite3.Connection) -> list[str]:
        """Run the pending migrations (``db`` must be in autocommit mode); their names."""
        ran = []
        db.execute(
            f"CREATE TABLE IF NOT EXISTS {_TABLE} (migration_set TEXT NOT NULL, "
            "name TEXT NOT NULL, applied_at TEXT NOT NULL, "
            "PRIMARY KEY (migration_set, name))"
        )
        for name, step in self.steps:
            db.execute("BEGIN IMMEDIATE")
            try:
                done = db.execute(
                    f"SELECT 1 FROM {_TABLE} WHERE migration_set = ? AND name = ?",
                    (self.name, name),
                ).fetchone()
                if not done:
                    step(db)
                    db.execute(
                        f"INSERT INTO {_TABLE} VALUES (?, ?, ?)",
                        (self.name, name, datetime.now(UTC).isoformat()),
                    )
                    ran.append(name)
                db.execute("COMMIT")
            except BaseException:
                db.execute("ROLLBACK")
                raise
        return ran
