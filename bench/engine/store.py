"""The run store: one SQLite file per run directory, one row per measured reconstruction.

A row's unique key is (run, codec label, codec config hash, dataset, image, rate point, decoder variant); the
config hash covers the codec's options, library versions, checkpoint sha256 and the suite's code version, so a
changed codec never reuses stale rows. Every work item (one image, one codec, one rate point: the encode plus all
decoder variants) is written in one transaction, which makes an interrupted run resumable item by item.
Values are plain columns or JSON; arrays (pooled-metric statistics) are raw bytes with dtype and shape.
"""

from __future__ import annotations

import json
import sqlite3
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Iterator, Mapping

import numpy as np
import pandas as pd

SCHEMA_VERSION = 1

SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS codecs (
    run_id TEXT NOT NULL, label TEXT NOT NULL, codec TEXT NOT NULL, config_hash TEXT NOT NULL,
    config TEXT NOT NULL, versions TEXT NOT NULL, description TEXT NOT NULL,
    PRIMARY KEY (run_id, label)
);
CREATE TABLE IF NOT EXISTS results (
    id INTEGER PRIMARY KEY,
    run_id TEXT NOT NULL, codec TEXT NOT NULL, config_hash TEXT NOT NULL, dataset TEXT NOT NULL,
    image_id TEXT NOT NULL, point REAL NOT NULL, variant TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('ok', 'failed')), error TEXT,
    height INTEGER, width INTEGER, num_bytes INTEGER, payload_bytes INTEGER, bitstream_sha256 TEXT,
    encode_time REAL, decode_time REAL, metrics TEXT NOT NULL DEFAULT '{}', not_applicable TEXT NOT NULL DEFAULT '{}',
    timings TEXT NOT NULL DEFAULT '{}', created REAL NOT NULL,
    UNIQUE (run_id, codec, config_hash, dataset, image_id, point, variant)
);
CREATE TABLE IF NOT EXISTS arrays (
    result_id INTEGER NOT NULL REFERENCES results(id) ON DELETE CASCADE,
    metric TEXT NOT NULL, name TEXT NOT NULL, dtype TEXT NOT NULL, shape TEXT NOT NULL, data BLOB NOT NULL,
    PRIMARY KEY (result_id, metric, name)
);
CREATE TABLE IF NOT EXISTS bitstreams (
    run_id TEXT NOT NULL, codec TEXT NOT NULL, config_hash TEXT NOT NULL, dataset TEXT NOT NULL,
    image_id TEXT NOT NULL, point REAL NOT NULL, data BLOB NOT NULL,
    PRIMARY KEY (run_id, codec, config_hash, dataset, image_id, point)
);
"""

FAILED_VARIANT = "*"


@dataclass(frozen=True)
class ItemKey:
    """One work item: one image encoded by one codec configuration at one rate point."""

    run_id: str
    codec: str
    config_hash: str
    dataset: str
    image_id: str
    point: float


@dataclass
class Row:
    """One reconstruction's measurements (or one failed item when ``status == 'failed'``)."""

    variant: str
    status: str = "ok"
    error: str | None = None
    height: int | None = None
    width: int | None = None
    num_bytes: int | None = None
    payload_bytes: int | None = None
    bitstream_sha256: str | None = None
    encode_time: float | None = None
    decode_time: float | None = None
    metrics: dict[str, float] = field(default_factory=dict)
    not_applicable: dict[str, str] = field(default_factory=dict)
    timings: dict[str, float] = field(default_factory=dict)
    arrays: dict[str, Mapping[str, np.ndarray]] = field(default_factory=dict)


def _json(value: Any) -> str:
    # inf (identical images) is legal in SQLite REAL but not in strict JSON: store it as a string.
    return json.dumps(value, default=float, allow_nan=True)


class RunStore:
    """The SQLite file of one run directory (WAL mode, safe to reopen after a crash)."""

    def __init__(self, path: Path):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(self.path, timeout=30.0)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.execute("PRAGMA foreign_keys=ON")
        self._db.executescript(SCHEMA)
        with self._db:
            self._db.execute("INSERT OR IGNORE INTO meta VALUES ('schema_version', ?)", (str(SCHEMA_VERSION),))

    def close(self) -> None:
        self._db.close()

    def __enter__(self) -> "RunStore":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def set_meta(self, key: str, value: Any) -> None:
        with self._db:
            self._db.execute("INSERT OR REPLACE INTO meta VALUES (?, ?)", (key, json.dumps(value)))

    def meta(self, key: str, default: Any = None) -> Any:
        found = self._db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return json.loads(found[0]) if found else default

    def register_codec(
        self, run_id: str, label: str, codec: str, config_hash: str, config: dict, versions: dict, description: str
    ) -> None:
        """Records the current configuration of a codec label (reports read rows of this configuration)."""
        with self._db:
            self._db.execute(
                "INSERT OR REPLACE INTO codecs VALUES (?, ?, ?, ?, ?, ?, ?)",
                (run_id, label, codec, config_hash, _json(config), _json(versions), description),
            )

    def completed_items(self, run_id: str) -> dict[tuple, dict[str, set[str]]]:
        """Maps each item (codec, config hash, dataset, image, point) to {variant: metric keys stored} of ok rows.

        A metric counts as stored when it has a value, an n/a reason, or pooled statistics.
        """
        pooled: dict[int, set[str]] = {}
        for result_id, metric in self._db.execute(
            "SELECT DISTINCT a.result_id, a.metric FROM arrays a JOIN results r ON r.id = a.result_id "
            "WHERE r.run_id = ?",
            (run_id,),
        ):
            pooled.setdefault(result_id, set()).add(metric)
        done: dict[tuple, dict[str, set[str]]] = {}
        query = (
            "SELECT id, codec, config_hash, dataset, image_id, point, variant, metrics, not_applicable FROM results "
            "WHERE run_id = ? AND status = 'ok'"
        )
        for result_id, codec, config_hash, dataset, image_id, point, variant, metrics, not_applicable in (
            self._db.execute(query, (run_id,))
        ):
            keys = set(json.loads(metrics)) | set(json.loads(not_applicable)) | pooled.get(result_id, set())
            done.setdefault((codec, config_hash, dataset, image_id, point), {})[variant] = keys
        return done

    def write_item(self, key: ItemKey, rows: Iterable[Row], bitstream: bytes | None = None) -> None:
        """Replaces everything stored for one item by ``rows`` (and its bitstream), in one transaction."""
        item = (key.run_id, key.codec, key.config_hash, key.dataset, key.image_id, key.point)
        now = time.time()
        with self._db:
            self._db.execute(
                "DELETE FROM results WHERE run_id = ? AND codec = ? AND config_hash = ? AND dataset = ? "
                "AND image_id = ? AND point = ?",
                item,
            )
            for row in rows:
                cursor = self._db.execute(
                    "INSERT INTO results (run_id, codec, config_hash, dataset, image_id, point, variant, status, "
                    "error, height, width, num_bytes, payload_bytes, bitstream_sha256, encode_time, decode_time, "
                    "metrics, not_applicable, timings, created) VALUES "
                    "(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (
                        *item, row.variant, row.status, row.error, row.height, row.width, row.num_bytes,
                        row.payload_bytes, row.bitstream_sha256, row.encode_time, row.decode_time,
                        _json(row.metrics), _json(row.not_applicable), _json(row.timings), now,
                    ),
                )
                for metric, stats in row.arrays.items():
                    for name, array in stats.items():
                        array = np.ascontiguousarray(array)
                        self._db.execute(
                            "INSERT INTO arrays VALUES (?, ?, ?, ?, ?, ?)",
                            (cursor.lastrowid, metric, name, array.dtype.str, json.dumps(array.shape), array.tobytes()),
                        )
            if bitstream is not None:
                self._db.execute("INSERT OR REPLACE INTO bitstreams VALUES (?, ?, ?, ?, ?, ?, ?)", (*item, bitstream))

    def clear(self, run_id: str) -> None:
        """Deletes every row of a run (``--fresh``)."""
        with self._db:
            for table in ("results", "bitstreams", "codecs"):
                self._db.execute(f"DELETE FROM {table} WHERE run_id = ?", (run_id,))

    def codecs(self, run_id: str | None = None) -> pd.DataFrame:
        query = "SELECT * FROM codecs" + (" WHERE run_id = ?" if run_id else "")
        return pd.read_sql_query(query, self._db, params=(run_id,) if run_id else None)

    def rows(self, run_id: str | None = None, current_only: bool = True) -> pd.DataFrame:
        """Result rows as a DataFrame, one column per metric; by default only each label's current config."""
        query = "SELECT r.* FROM results r"
        if current_only:
            query += " JOIN codecs c ON c.run_id = r.run_id AND c.label = r.codec AND c.config_hash = r.config_hash"
        params: tuple = ()
        if run_id:
            query += " WHERE r.run_id = ?"
            params = (run_id,)
        frame = pd.read_sql_query(query + " ORDER BY r.id", self._db, params=params)
        metrics = pd.json_normalize([json.loads(m) for m in frame["metrics"]]) if len(frame) else pd.DataFrame()
        metrics.index = frame.index
        frame = pd.concat([frame.drop(columns=["metrics"]), metrics.astype(float)], axis=1)
        frame["bpp"] = 8.0 * frame["num_bytes"] / (frame["height"] * frame["width"])
        frame["payload-bpp"] = 8.0 * frame["payload_bytes"] / (frame["height"] * frame["width"])
        return frame

    def arrays(self, result_ids: Iterable[int], metric: str) -> Iterator[tuple[int, dict[str, np.ndarray]]]:
        """Yields (result id, {name: array}) of a pooled metric's stored statistics."""
        grouped: dict[int, dict[str, np.ndarray]] = {}
        ids = list(result_ids)
        for start in range(0, len(ids), 500):
            chunk = ids[start : start + 500]
            marks = ",".join("?" * len(chunk))
            for result_id, name, dtype, shape, data in self._db.execute(
                f"SELECT result_id, name, dtype, shape, data FROM arrays WHERE metric = ? AND result_id IN ({marks})",
                (metric, *chunk),
            ):
                array = np.frombuffer(data, dtype=np.dtype(dtype)).reshape(json.loads(shape))
                grouped.setdefault(result_id, {})[name] = array
        yield from grouped.items()

    def bitstream(self, run_id: str, codec: str, config_hash: str, dataset: str, image_id: str, point: float) -> bytes:
        found = self._db.execute(
            "SELECT data FROM bitstreams WHERE run_id = ? AND codec = ? AND config_hash = ? AND dataset = ? "
            "AND image_id = ? AND point = ?",
            (run_id, codec, config_hash, dataset, image_id, point),
        ).fetchone()
        if found is None:
            raise KeyError(f"no bitstream stored for {codec} {dataset}/{image_id} at {point}")
        return found[0]
