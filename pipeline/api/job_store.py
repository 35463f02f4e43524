"""Where batch jobs live: a SQLite table of jobs and items, and their result pictures as files.

Jobs and items survive a restart: the table is an embedded SQLite file (``batch.store_path``)
and each result is a file under ``batch.results_dir/<job_id>/``, so nothing big is held in
memory and a ``GET`` of a job returns links rather than pictures. A job that was queued or
running when the server stopped is marked ``interrupted`` (at an orderly stop, or at the next
start after a crash), and so is each of its items that never ran: every item ends ``ok``,
``error`` or ``interrupted``, and the counts add up to the total. The items it had finished stay
available, and the job's options are kept so that its unfinished items can be resubmitted. Finished jobs expire after ``job_ttl_s``; beyond ``max_kept_jobs``
finished jobs, or ``results_max_bytes`` of result files, the oldest go first.

Several API replicas sharing jobs need one store they all reach: the methods here are the
whole interface (create, update an item, finish, read, purge), so a Postgres or Redis class
with the same methods and a shared results volume or object store would take this one's place.
SQLite itself is for one host: its file locking is not safe on network file systems.
"""

from __future__ import annotations

import json
import shutil
import sqlite3
import threading
from pathlib import Path
from typing import Any

from pipeline.io.atomic import atomic_file
from pipeline.log import get_logger

log = get_logger(__name__)

_SCHEMA = """
CREATE TABLE IF NOT EXISTS jobs (
    job_id TEXT PRIMARY KEY, status TEXT NOT NULL, created_at REAL NOT NULL,
    finished_at REAL, expires_at REAL, total INTEGER NOT NULL, options TEXT
);
CREATE TABLE IF NOT EXISTS items (
    job_id TEXT NOT NULL, idx INTEGER NOT NULL, person_url TEXT NOT NULL, garment_url TEXT NOT NULL,
    status TEXT NOT NULL DEFAULT 'pending', processing_time REAL, metadata TEXT, error TEXT,
    result_file TEXT, mask_file TEXT, bytes INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (job_id, idx)
);
"""


class JobStore:
    """SQLite job table plus a results folder; safe to share between threads."""

    def __init__(self, db_path: Path, results_dir: Path, max_bytes: int = 2_000_000_000) -> None:
        self.results_dir = Path(results_dir)
        self.results_dir.mkdir(parents=True, exist_ok=True)
        db_path = Path(db_path)
        db_path.parent.mkdir(parents=True, exist_ok=True)
        self.max_bytes = max_bytes
        self._lock = threading.Lock()
        self._db = sqlite3.connect(db_path, check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.executescript(_SCHEMA)
        columns = {r[1] for r in self._db.execute("PRAGMA table_info(jobs)")}
        if "options" not in columns:  # a store written before options were kept
            self._db.execute("ALTER TABLE jobs ADD COLUMN options TEXT")

    def close(self) -> None:
        """Close the database."""
        with self._lock:
            self._db.close()

    # ------------------------------------------------------------ writes

    def create(self, job_id: str, pairs: list[tuple[str, str]], created_at: float, options: dict[str, Any] | None = None) -> None:
        """A new queued job with its pending items (and the options its try-ons use, for a resubmission)."""
        with self._lock, self._db:
            self._db.execute("INSERT INTO jobs (job_id, status, created_at, total, options) VALUES (?, 'queued', ?, ?, ?)",
                             (job_id, created_at, len(pairs), json.dumps(options) if options is not None else None))
            self._db.executemany("INSERT INTO items (job_id, idx, person_url, garment_url) VALUES (?, ?, ?, ?)",
                                 [(job_id, i, p, g) for i, (p, g) in enumerate(pairs)])

    def set_status(self, job_id: str, status: str) -> None:
        """``queued`` -> ``running``."""
        with self._lock:
            self._db.execute("UPDATE jobs SET status = ? WHERE job_id = ?", (status, job_id))

    def finish_item(self, job_id: str, idx: int, *, processing_time: float, result: bytes | None = None,
                    result_ext: str = "jpg", mask: bytes | None = None, metadata: dict[str, Any] | None = None,
                    error: dict[str, str] | None = None) -> None:
        """Record one item's outcome; its pictures are written as files first (atomically)."""
        folder = self.results_dir / job_id
        result_file = mask_file = None
        size = 0
        if result is not None:
            folder.mkdir(parents=True, exist_ok=True)
            result_file = f"{idx:03d}.{result_ext}"
            with atomic_file(folder / result_file, "wb") as fh:
                fh.write(result)
            size += len(result)
            if mask is not None:
                mask_file = f"{idx:03d}_mask.png"
                with atomic_file(folder / mask_file, "wb") as fh:
                    fh.write(mask)
                size += len(mask)
        with self._lock:
            self._db.execute(
                "UPDATE items SET status = ?, processing_time = ?, metadata = ?, error = ?, result_file = ?, "
                "mask_file = ?, bytes = ? WHERE job_id = ? AND idx = ?",
                ("ok" if error is None else "error", processing_time, json.dumps(metadata) if metadata else None,
                 json.dumps(error) if error else None, result_file, mask_file, size, job_id, idx))

    def interrupt_item(self, job_id: str, idx: int) -> None:
        """The item never ran: the server stopped first."""
        with self._lock:
            self._db.execute("UPDATE items SET status = 'interrupted' WHERE job_id = ? AND idx = ? AND status = 'pending'",
                             (job_id, idx))

    def finish(self, job_id: str, finished_at: float, expires_at: float) -> None:
        """The job is done."""
        with self._lock:
            self._db.execute("UPDATE jobs SET status = 'done', finished_at = ?, expires_at = ? WHERE job_id = ?",
                             (finished_at, expires_at, job_id))

    def mark_interrupted(self, now: float, ttl_s: float) -> list[str]:
        """Jobs a stopped server left queued or running become ``interrupted`` (their finished items kept)."""
        with self._lock, self._db:
            ids = [r[0] for r in self._db.execute("SELECT job_id FROM jobs WHERE status IN ('queued', 'running')")]
            self._db.execute("UPDATE jobs SET status = 'interrupted', finished_at = ?, expires_at = ? "
                             "WHERE status IN ('queued', 'running')", (now, now + ttl_s))
            self._db.executemany("UPDATE items SET status = 'interrupted' WHERE job_id = ? AND status = 'pending'",
                                 [(i,) for i in ids])
        return ids

    def purge(self, now: float, max_kept: int) -> None:
        """Forget expired jobs, and the oldest finished ones beyond ``max_kept`` or the results' byte cap."""
        with self._lock:
            expired = [r[0] for r in self._db.execute("SELECT job_id FROM jobs WHERE expires_at IS NOT NULL AND expires_at <= ?",
                                                      (now,))]
            finished = [(r[0], r[1] or 0) for r in self._db.execute(
                "SELECT j.job_id, (SELECT COALESCE(SUM(bytes), 0) FROM items i WHERE i.job_id = j.job_id) FROM jobs j "
                "WHERE j.status IN ('done', 'interrupted') AND (j.expires_at IS NULL OR j.expires_at > ?) "
                "ORDER BY j.finished_at", (now,))]
            drop = set(expired)
            keep = finished[max(0, len(finished) - max_kept):]
            drop.update(j for j, _ in finished[: max(0, len(finished) - max_kept)])
            total = sum(b for _, b in keep)
            for job_id, size in keep:
                if total <= self.max_bytes:
                    break
                drop.add(job_id)
                total -= size
            for job_id in drop:
                self._db.execute("DELETE FROM items WHERE job_id = ?", (job_id,))
                self._db.execute("DELETE FROM jobs WHERE job_id = ?", (job_id,))
        for job_id in drop:
            shutil.rmtree(self.results_dir / job_id, ignore_errors=True)

    # ------------------------------------------------------------ reads

    def count_active(self) -> int:
        """Jobs queued or running."""
        with self._lock:
            return int(self._db.execute("SELECT COUNT(*) FROM jobs WHERE status IN ('queued', 'running')").fetchone()[0])

    def get(self, job_id: str) -> dict[str, Any] | None:
        """The job with its items (file names, not pictures), or None."""
        with self._lock:
            row = self._db.execute("SELECT job_id, status, created_at, finished_at, expires_at, total, options FROM jobs "
                                   "WHERE job_id = ?", (job_id,)).fetchone()
            if row is None:
                return None
            items = self._db.execute("SELECT idx, person_url, garment_url, status, processing_time, metadata, error, "
                                     "result_file, mask_file FROM items WHERE job_id = ? ORDER BY idx", (job_id,)).fetchall()
        out = [{"index": i, "person_url": p, "garment_url": g, "status": s, "processing_time": t,
                "metadata": json.loads(m) if m else None, "error": json.loads(e) if e else None,
                "result_file": rf, "mask_file": mf} for i, p, g, s, t, m, e, rf, mf in items]
        count = lambda status: sum(1 for it in out if it["status"] == status)  # noqa: E731
        ok, failed = count("ok"), count("error")
        return {"job_id": row[0], "status": row[1], "created_at": row[2], "finished_at": row[3], "expires_at": row[4],
                "total": row[5], "completed": ok + failed, "succeeded": ok, "failed": failed,
                "interrupted": count("interrupted"), "pending": count("pending"),
                "options": json.loads(row[6]) if row[6] else None, "items": out}

    def file(self, job_id: str, name: str) -> Path | None:
        """Path of one result file of a job, or None (names come from :meth:`get`, never from a client)."""
        path = self.results_dir / job_id / name
        return path if path.is_file() else None
