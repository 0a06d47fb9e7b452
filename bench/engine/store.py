"""The run store: one SQLite file per run directory, one row per measured reconstruction.

A row's unique key is (run, codec label, codec config hash, dataset, image, image sha256, rate point, decoder
variant). The config hash covers the codec's options, library versions, checkpoint sha256 and code version; the
image sha256 is the digest of the pixels that were encoded (:mod:`bench.data.digest`), so other images under the
same names, or a changed codec, never reuse a stored row. Each metric value carries the hash of the metric's own
configuration (weights sha256, network, protocol) in ``metric_hashes``: a value measured with other weights counts
as missing and is measured again, without touching the codec's measurements.

What the current suite asks for is recorded apart from what the store holds: ``selection`` (codec config, dataset,
image, point), ``current_images`` (the digest of each image now) and ``metric_configs`` (each metric's current
hash). Curves, exports and checks read only that part, so points, images or metrics dropped from a suite stay in
the store but out of every number.

Every work item (one image, one codec, one rate point: the encode plus all decoder variants) is written in one
transaction, which makes an interrupted run resumable item by item. Values are plain columns or JSON; arrays
(pooled-metric statistics) are raw bytes with dtype and shape.
"""

from __future__ import annotations

import json
import os
import sqlite3
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Iterator, Mapping

import numpy as np
import pandas as pd

from bench.errors import BenchError

STORE_NAME = "results.sqlite"  # the store's file name in a run directory
SCHEMA_VERSION = 2
SQLITE_HEADER = b"SQLite format 3\x00"

SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS codecs (
    run_id TEXT NOT NULL, label TEXT NOT NULL, codec TEXT NOT NULL, config_hash TEXT NOT NULL,
    config TEXT NOT NULL, versions TEXT NOT NULL, description TEXT NOT NULL, provenance TEXT NOT NULL DEFAULT '{}',
    PRIMARY KEY (run_id, label)
);
CREATE TABLE IF NOT EXISTS metric_configs (
    run_id TEXT NOT NULL, metric TEXT NOT NULL, config_hash TEXT NOT NULL, config TEXT NOT NULL,
    provenance TEXT NOT NULL DEFAULT '{}',
    PRIMARY KEY (run_id, metric)
);
CREATE TABLE IF NOT EXISTS selection (
    run_id TEXT NOT NULL, codec TEXT NOT NULL, config_hash TEXT NOT NULL, dataset TEXT NOT NULL,
    image_id TEXT NOT NULL, point REAL NOT NULL,
    PRIMARY KEY (run_id, codec, dataset, image_id, point)
);
CREATE TABLE IF NOT EXISTS current_images (
    run_id TEXT NOT NULL, dataset TEXT NOT NULL, image_id TEXT NOT NULL, image_sha256 TEXT NOT NULL,
    PRIMARY KEY (run_id, dataset, image_id)
);
CREATE TABLE IF NOT EXISTS results (
    id INTEGER PRIMARY KEY,
    run_id TEXT NOT NULL, codec TEXT NOT NULL, config_hash TEXT NOT NULL, dataset TEXT NOT NULL,
    image_id TEXT NOT NULL, image_sha256 TEXT NOT NULL, point REAL NOT NULL, variant TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('ok', 'failed')), error TEXT,
    height INTEGER, width INTEGER, num_bytes INTEGER, payload_bytes INTEGER, bitstream_sha256 TEXT,
    encode_time REAL, decode_time REAL, metrics TEXT NOT NULL DEFAULT '{}', not_applicable TEXT NOT NULL DEFAULT '{}',
    metric_hashes TEXT NOT NULL DEFAULT '{}', timings TEXT NOT NULL DEFAULT '{}', created REAL NOT NULL,
    UNIQUE (run_id, codec, config_hash, dataset, image_id, image_sha256, point, variant)
);
CREATE TABLE IF NOT EXISTS arrays (
    result_id INTEGER NOT NULL REFERENCES results(id) ON DELETE CASCADE,
    metric TEXT NOT NULL, name TEXT NOT NULL, dtype TEXT NOT NULL, shape TEXT NOT NULL, data BLOB NOT NULL,
    PRIMARY KEY (result_id, metric, name)
);
CREATE TABLE IF NOT EXISTS bitstreams (
    run_id TEXT NOT NULL, codec TEXT NOT NULL, config_hash TEXT NOT NULL, dataset TEXT NOT NULL,
    image_id TEXT NOT NULL, image_sha256 TEXT NOT NULL, point REAL NOT NULL, data BLOB NOT NULL,
    PRIMARY KEY (run_id, codec, config_hash, dataset, image_id, image_sha256, point)
);
"""

FAILED_VARIANT = "*"
UNKNOWN_IMAGE = ""  # the digest of an image that could not be read


class StoreError(BenchError):
    """A run store that cannot be used: damaged, of another program or version, read-only, or out of space."""


@dataclass(frozen=True)
class ItemKey:
    """One work item: one image (by id and pixel digest) encoded by one codec configuration at one rate point."""

    run_id: str
    codec: str
    config_hash: str
    dataset: str
    image_id: str
    image_sha256: str
    point: float

    @property
    def columns(self) -> tuple:
        return (self.run_id, self.codec, self.config_hash, self.dataset, self.image_id, self.image_sha256, self.point)


@dataclass
class Row:
    """One reconstruction's measurements (or one failed item when ``status == 'failed'``).

    ``metric_hashes`` maps every metric key the row holds (value, n/a reason or statistics) to the hash of the
    metric configuration that produced it.
    """

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
    metric_hashes: dict[str, str] = field(default_factory=dict)
    timings: dict[str, float] = field(default_factory=dict)
    arrays: dict[str, Mapping[str, np.ndarray]] = field(default_factory=dict)


@dataclass(frozen=True)
class SelectedItem:
    """One item the current suite asks for (the image digest is recorded apart, per image)."""

    codec: str
    config_hash: str
    dataset: str
    image_id: str
    point: float


@dataclass
class StoredItem:
    """What the store holds for one item: ``{variant: {metric: config hash}}`` of its ok rows, and whether its
    bitstream is stored (then missing metrics can be measured again from it, without encoding)."""

    variants: dict[str, dict[str, str]] = field(default_factory=dict)
    has_bitstream: bool = False


def _json(value: Any) -> str:
    # inf (identical images) is legal in SQLite REAL but not in strict JSON: store it as a string.
    return json.dumps(value, default=float, allow_nan=True)


def _fresh_hint(path: Path) -> str:
    return f"rerun with --fresh to move it aside ({path.name}.<time>.bak) and start over"


def _write_error(path: Path, error: sqlite3.OperationalError) -> StoreError:
    """The one-line error of a failed write: disk full (resumable), read-only, or anything else."""
    text = str(error)
    if "full" in text:
        return StoreError(f"disk full while writing {path}: every item written before is kept; free space and rerun "
                          f"the same command to resume")
    if "readonly" in text or "read-only" in text:
        return StoreError(f"{path} is read-only; run in a writable directory (--runs-dir)")
    return StoreError(f"cannot write run store {path}: {error}")


def _connect(path: Path, readonly: bool) -> sqlite3.Connection:
    if not readonly:
        return sqlite3.connect(path, timeout=30.0)
    # A store closed cleanly has no write-ahead log: it is read as an immutable file, which creates nothing beside it
    # (a read-only directory stays untouched). With a log (a run in progress, or killed), mode=ro reads it too.
    uri = path.resolve().as_uri()
    wal = path.with_name(path.name + "-wal")
    if wal.exists() and wal.stat().st_size > 0:
        return sqlite3.connect(f"{uri}?mode=ro", uri=True, timeout=30.0)
    return sqlite3.connect(f"{uri}?immutable=1", uri=True, timeout=30.0)


class RunStore:
    """The SQLite file of one run directory (WAL mode, safe to reopen after a crash).

    Args:
        path: the store file; created when missing (unless ``readonly``).
        readonly: open for reading only (reports and checks of a read-only run directory).

    Raises:
        StoreError: the file is damaged, another program's database, an older schema, or cannot be opened; the
            message names the file and the fix.
    """

    def __init__(self, path: Path, readonly: bool = False):
        self.path = Path(path)
        self.readonly = readonly
        self._check_file()
        if not readonly:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            self._db = _connect(self.path, readonly)
            self._open()
        except sqlite3.DatabaseError as error:
            raise StoreError(f"run store {self.path} cannot be opened ({error}); {_fresh_hint(self.path)}") from error

    def _check_file(self) -> None:
        if self.path.is_dir():
            raise StoreError(f"run store {self.path} is a directory, not a results file; {_fresh_hint(self.path)}")
        if not self.path.exists():
            if self.readonly:
                raise StoreError(f"no run store at {self.path}")
            return
        with open(self.path, "rb") as handle:
            header = handle.read(len(SQLITE_HEADER))
        if header != SQLITE_HEADER:
            state = "empty (truncated)" if not header else "not an SQLite database"
            raise StoreError(f"run store {self.path} is damaged: the file is {state}; {_fresh_hint(self.path)}")

    def _open(self) -> None:
        try:
            existing = self._tables()
            verdict = self._db.execute("PRAGMA quick_check").fetchone()[0] if existing else "ok"
        except sqlite3.DatabaseError as error:
            verdict = str(error)
        if verdict != "ok":
            raise StoreError(f"run store {self.path} is damaged (SQLite integrity check: {verdict}); "
                             f"{_fresh_hint(self.path)}")
        if existing and not {"meta", "results"} <= existing:
            raise StoreError(f"{self.path} is an SQLite database of another program (tables: "
                             f"{', '.join(sorted(existing))}), not an mpa-bench run store; {_fresh_hint(self.path)}")
        if existing:
            version = self._db.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
            if version is None or version[0] != str(SCHEMA_VERSION):
                found = version[0] if version else "unknown"
                raise StoreError(
                    f"run store {self.path} has schema version {found}, written by an older mpa-bench whose keys do "
                    f"not name the image content; {_fresh_hint(self.path)}"
                )
        if self.readonly:
            if not existing:
                raise StoreError(f"{self.path} holds no run store tables")
            return
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.execute("PRAGMA foreign_keys=ON")
        with self._db:
            self._db.executescript(SCHEMA)
            self._db.execute("INSERT OR IGNORE INTO meta VALUES ('schema_version', ?)", (str(SCHEMA_VERSION),))

    def _tables(self) -> set[str]:
        return {name for (name,) in self._db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}

    def close(self) -> None:
        self._db.close()

    def __enter__(self) -> "RunStore":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- writing ----------------------------------------------------------------------------------------------

    def _write(self, statements: Iterable[tuple[str, tuple]]) -> None:
        """Runs statements in one transaction; a full disk or a read-only file becomes a :class:`StoreError`."""
        try:
            with self._db:
                for sql, params in statements:
                    self._db.execute(sql, params)
        except sqlite3.OperationalError as error:
            raise _write_error(self.path, error) from error

    def set_meta(self, key: str, value: Any) -> None:
        self._write([("INSERT OR REPLACE INTO meta VALUES (?, ?)", (key, json.dumps(value)))])

    def meta(self, key: str, default: Any = None) -> Any:
        found = self._db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return json.loads(found[0]) if found else default

    def register_codec(self, run_id: str, label: str, codec: str, config_hash: str, config: dict, versions: dict,
                       description: str, provenance: Mapping[str, Any] | None = None) -> None:
        """Records the current configuration of a codec label."""
        self._write([(
            "INSERT OR REPLACE INTO codecs VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (run_id, label, codec, config_hash, _json(config), _json(versions), description, _json(provenance or {})),
        )])

    def register_metric(self, run_id: str, metric: str, config_hash: str, config: Mapping[str, Any],
                        provenance: Mapping[str, Any] | None = None) -> None:
        """Records the current configuration of a metric (values of other configurations are not shown)."""
        self._write([(
            "INSERT OR REPLACE INTO metric_configs VALUES (?, ?, ?, ?, ?)",
            (run_id, metric, config_hash, _json(dict(config)), _json(provenance or {})),
        )])

    def set_selection(self, run_id: str, items: Iterable[SelectedItem], metrics: Iterable[str],
                      replace: bool = True) -> None:
        """Records what the current suite asks for: its items and its metrics (stored rows are kept). With
        ``replace`` (a run) the previous selection and metrics not in ``metrics`` are forgotten; without, the items
        are added."""
        wanted = list(metrics)
        marks = ",".join("?" * len(wanted)) or "''"
        statements = [("DELETE FROM selection WHERE run_id = ?", (run_id,)),
                      (f"DELETE FROM metric_configs WHERE run_id = ? AND metric NOT IN ({marks})", (run_id, *wanted))
                      ] if replace else []
        statements += [("INSERT OR REPLACE INTO selection VALUES (?, ?, ?, ?, ?, ?)",
                        (run_id, item.codec, item.config_hash, item.dataset, item.image_id, item.point))
                       for item in items]
        self._write(statements)

    def set_current_images(self, run_id: str, digests: Mapping[tuple[str, str], str]) -> None:
        """Records the digest each image has now ({(dataset, image id): sha256})."""
        self._write([("INSERT OR REPLACE INTO current_images VALUES (?, ?, ?, ?)", (run_id, dataset, image_id, sha))
                     for (dataset, image_id), sha in digests.items()])

    def write_item(self, key: ItemKey, rows: Iterable[Row], bitstream: bytes | None = None) -> None:
        """Replaces everything stored for one item by ``rows`` (and its bitstream), in one transaction, and records
        the item's image digest as the image's current one."""
        where = ("run_id = ? AND codec = ? AND config_hash = ? AND dataset = ? AND image_id = ? AND image_sha256 = ? "
                 "AND point = ?")
        now = time.time()
        try:
            with self._db:
                self._db.execute(f"DELETE FROM results WHERE {where}", key.columns)
                for row in rows:
                    self._insert_row(key, row, now)
                if bitstream is not None:
                    self._db.execute("INSERT OR REPLACE INTO bitstreams VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                                     (*key.columns, bitstream))
                self._db.execute("INSERT OR REPLACE INTO current_images VALUES (?, ?, ?, ?)",
                                 (key.run_id, key.dataset, key.image_id, key.image_sha256))
        except sqlite3.OperationalError as error:
            raise _write_error(self.path, error) from error

    def update_metrics(self, key: ItemKey, rows: Iterable[Row]) -> None:
        """Merges re-measured metrics into an item's stored rows (one per variant), leaving codec values alone."""
        try:
            with self._db:
                for row in rows:
                    found = self._db.execute(
                        "SELECT id, metrics, not_applicable, metric_hashes FROM results WHERE run_id = ? AND codec = ? "
                        "AND config_hash = ? AND dataset = ? AND image_id = ? AND image_sha256 = ? AND point = ? "
                        "AND variant = ?", (*key.columns, row.variant)).fetchone()
                    if found is None:
                        raise StoreError(f"{self.path}: no stored row for {key} {row.variant} to add metrics to")
                    result_id = found[0]
                    values, not_applicable, hashes = (json.loads(text) for text in found[1:])
                    for metric in row.metric_hashes:
                        values.pop(metric, None)
                        not_applicable.pop(metric, None)
                        self._db.execute("DELETE FROM arrays WHERE result_id = ? AND metric = ?", (result_id, metric))
                    values.update(row.metrics)
                    not_applicable.update(row.not_applicable)
                    hashes.update(row.metric_hashes)
                    self._db.execute("UPDATE results SET metrics = ?, not_applicable = ?, metric_hashes = ? WHERE id = ?",
                                     (_json(values), _json(not_applicable), _json(hashes), result_id))
                    self._insert_arrays(result_id, row)
        except sqlite3.OperationalError as error:
            raise _write_error(self.path, error) from error

    def _insert_row(self, key: ItemKey, row: Row, now: float) -> None:
        cursor = self._db.execute(
            "INSERT INTO results (run_id, codec, config_hash, dataset, image_id, image_sha256, point, variant, status, "
            "error, height, width, num_bytes, payload_bytes, bitstream_sha256, encode_time, decode_time, metrics, "
            "not_applicable, metric_hashes, timings, created) VALUES "
            "(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (*key.columns, row.variant, row.status, row.error, row.height, row.width, row.num_bytes,
             row.payload_bytes, row.bitstream_sha256, row.encode_time, row.decode_time, _json(row.metrics),
             _json(row.not_applicable), _json(row.metric_hashes), _json(row.timings), now),
        )
        self._insert_arrays(cursor.lastrowid, row)

    def _insert_arrays(self, result_id: int, row: Row) -> None:
        for metric, stats in row.arrays.items():
            for name, array in stats.items():
                array = np.ascontiguousarray(array)
                self._db.execute("INSERT INTO arrays VALUES (?, ?, ?, ?, ?, ?)",
                                 (result_id, metric, name, array.dtype.str, json.dumps(array.shape), array.tobytes()))

    # --- reading ----------------------------------------------------------------------------------------------

    def stored_items(self, run_id: str) -> dict[tuple, StoredItem]:
        """Maps (codec, config hash, dataset, image, image sha256, point) to what the store holds for it."""
        pooled: dict[int, set[str]] = {}
        for result_id, metric in self._db.execute(
            "SELECT DISTINCT a.result_id, a.metric FROM arrays a JOIN results r ON r.id = a.result_id "
            "WHERE r.run_id = ?", (run_id,)
        ):
            pooled.setdefault(result_id, set()).add(metric)
        found: dict[tuple, StoredItem] = {}
        query = ("SELECT id, codec, config_hash, dataset, image_id, image_sha256, point, variant, metrics, "
                 "not_applicable, metric_hashes FROM results WHERE run_id = ? AND status = 'ok'")
        for result_id, *item, variant, metrics, not_applicable, hashes in self._db.execute(query, (run_id,)):
            hashes = self._loads(hashes, result_id)
            present = set(self._loads(metrics, result_id)) | set(self._loads(not_applicable, result_id))
            present |= pooled.get(result_id, set())
            entry = found.setdefault(tuple(item), StoredItem())
            entry.variants[variant] = {metric: hashes[metric] for metric in present if metric in hashes}
        for item in self._db.execute(
            "SELECT codec, config_hash, dataset, image_id, image_sha256, point FROM bitstreams WHERE run_id = ?",
            (run_id,)
        ):
            if tuple(item) in found:
                found[tuple(item)].has_bitstream = True
        return found

    def stored_images(self, run_id: str) -> set[tuple[str, str]]:
        """(dataset, image id) of every image with stored rows: the images whose digest decides a reuse."""
        return set(self._db.execute("SELECT DISTINCT dataset, image_id FROM results WHERE run_id = ?", (run_id,)))

    def codecs(self, run_id: str | None = None) -> pd.DataFrame:
        query = "SELECT * FROM codecs" + (" WHERE run_id = ?" if run_id else "")
        return pd.read_sql_query(query, self._db, params=(run_id,) if run_id else None)

    def metric_configs(self, run_id: str) -> pd.DataFrame:
        return pd.read_sql_query("SELECT * FROM metric_configs WHERE run_id = ?", self._db, params=(run_id,))

    def run_ids(self) -> list[str]:
        return sorted({run_id for (run_id,) in self._db.execute("SELECT DISTINCT run_id FROM codecs")})

    def rows(self, run_id: str, selected_only: bool = True) -> pd.DataFrame:
        """Result rows as a DataFrame, one column per metric.

        With ``selected_only`` (the default) only what the current suite asks for: its codec configurations, images
        (with their current digest) and points, and metric values of the current metric configurations.
        """
        query = "SELECT r.* FROM results r"
        if selected_only:
            query += (" JOIN selection s ON s.run_id = r.run_id AND s.codec = r.codec AND s.config_hash = r.config_hash"
                      " AND s.dataset = r.dataset AND s.image_id = r.image_id AND s.point = r.point"
                      " JOIN current_images i ON i.run_id = r.run_id AND i.dataset = r.dataset"
                      " AND i.image_id = r.image_id AND i.image_sha256 = r.image_sha256")
        frame = pd.read_sql_query(query + " WHERE r.run_id = ? ORDER BY r.id", self._db, params=(run_id,))
        current = dict(self._db.execute("SELECT metric, config_hash FROM metric_configs WHERE run_id = ?", (run_id,)))
        records = []
        for result_id, metrics, hashes in zip(frame["id"], frame["metrics"], frame["metric_hashes"]):
            values, hashes = self._loads(metrics, result_id), self._loads(hashes, result_id)
            if selected_only:
                values = {k: v for k, v in values.items() if k in current and hashes.get(k) == current[k]}
            records.append(values)
        metrics = pd.DataFrame.from_records(records, index=frame.index) if records else pd.DataFrame(index=frame.index)
        frame = pd.concat([frame.drop(columns=["metrics"]), metrics.astype(float)], axis=1)
        frame["bpp"] = 8.0 * frame["num_bytes"] / (frame["height"] * frame["width"])
        frame["payload-bpp"] = 8.0 * frame["payload_bytes"] / (frame["height"] * frame["width"])
        return frame

    def _loads(self, text: str, result_id: int) -> dict:
        try:
            value = json.loads(text)
        except (TypeError, json.JSONDecodeError) as error:
            raise StoreError(f"run store {self.path} is damaged: row {result_id} holds malformed JSON ({error}); "
                             f"{_fresh_hint(self.path)}") from error
        if not isinstance(value, dict):
            raise StoreError(f"run store {self.path} is damaged: row {result_id} holds {type(value).__name__} where "
                             f"an object belongs; {_fresh_hint(self.path)}")
        return value

    def arrays(self, result_ids: Iterable[int], metric: str, config_hash: str | None = None
               ) -> Iterator[tuple[int, dict[str, np.ndarray]]]:
        """Yields (result id, {name: array}) of a pooled metric's stored statistics, of ``config_hash`` if given."""
        grouped: dict[int, dict[str, np.ndarray]] = {}
        ids = list(result_ids)
        for start in range(0, len(ids), 500):
            chunk = ids[start : start + 500]
            marks = ",".join("?" * len(chunk))
            for result_id, name, dtype, shape, data, hashes in self._db.execute(
                f"SELECT a.result_id, a.name, a.dtype, a.shape, a.data, r.metric_hashes FROM arrays a "
                f"JOIN results r ON r.id = a.result_id WHERE a.metric = ? AND a.result_id IN ({marks})",
                (metric, *chunk),
            ):
                if config_hash is not None and self._loads(hashes, result_id).get(metric) != config_hash:
                    continue
                array = np.frombuffer(data, dtype=np.dtype(dtype)).reshape(json.loads(shape))
                grouped.setdefault(result_id, {})[name] = array
        yield from grouped.items()

    def bitstream(self, run_id: str, codec: str, config_hash: str, dataset: str, image_id: str, point: float,
                  image_sha256: str | None = None) -> bytes:
        """The stored bytes of one item; without ``image_sha256``, of the image's current digest."""
        if image_sha256 is None:
            found = self._db.execute("SELECT image_sha256 FROM current_images WHERE run_id = ? AND dataset = ? AND "
                                     "image_id = ?", (run_id, dataset, image_id)).fetchone()
            image_sha256 = found[0] if found else UNKNOWN_IMAGE
        found = self._db.execute(
            "SELECT data FROM bitstreams WHERE run_id = ? AND codec = ? AND config_hash = ? AND dataset = ? "
            "AND image_id = ? AND image_sha256 = ? AND point = ?",
            (run_id, codec, config_hash, dataset, image_id, image_sha256, point),
        ).fetchone()
        if found is None:
            raise KeyError(f"no bitstream stored for {codec} {dataset}/{image_id} at {point}")
        return found[0]


def move_aside(path: Path) -> Path | None:
    """Renames a store (and its WAL files) to ``<name>.<time>.bak`` so that a fresh one can start; never deletes."""
    path = Path(path)
    if not path.exists():
        return None
    target = path.with_name(f"{path.name}.{time.strftime('%Y%m%d-%H%M%S')}.bak")
    counter = 1
    while target.exists():
        target = path.with_name(f"{path.name}.{time.strftime('%Y%m%d-%H%M%S')}-{counter}.bak")
        counter += 1
    os.replace(path, target)
    for suffix in ("-wal", "-shm"):
        companion = path.with_name(path.name + suffix)
        if companion.exists():
            os.replace(companion, target.with_name(target.name + suffix))
    return target
