"""store.writer.json_insert: many rows in one statement, values unchanged."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from nimbus.store.writer import json_insert, json_rows


def test_rows_round_trip(tmp_path: Path) -> None:
    c = sqlite3.connect(tmp_path / "t.db", isolation_level=None)
    c.execute("CREATE TABLE t (id TEXT, n INTEGER, x REAL, flag BOOLEAN, note TEXT)")
    rows = [
        ("a", 1, 0.5, True, None),
        ("b'\"\\\n", -(2**62), 1e-9, False, "ünïcode ✓"),
        ("c", 0, 3.0, True, ""),
    ]
    c.execute(json_insert("t", ("id", "n", "x", "flag", "note")), json_rows(rows))
    back = c.execute("SELECT id, n, x, flag, note FROM t ORDER BY rowid").fetchall()
    assert back == [(i, n, x, int(flag), note) for i, n, x, flag, note in rows]
    c.execute("DELETE FROM t WHERE id IN (SELECT value FROM json_each(?))", json_rows(["a", "c"]))
    assert c.execute("SELECT id FROM t").fetchall() == [("b'\"\\\n",)]
