"""One writer per run directory: an advisory lock (``flock``) held for the whole run, released by the OS when the
process ends (also on ``kill -9``), so a second run on the same directory is told at once instead of redoing the
first one's work."""

from __future__ import annotations

import fcntl
import os
from pathlib import Path

from bench.errors import BenchError

LOCK_NAME = ".lock"


class RunDirectoryBusy(BenchError):
    """Another process holds the run directory."""


class RunLock:
    """Context manager holding the exclusive lock of ``run_dir``."""

    def __init__(self, run_dir: Path):
        self.path = Path(run_dir) / LOCK_NAME
        self._handle = None

    def __enter__(self) -> "RunLock":
        self._handle = open(self.path, "a+")
        try:
            fcntl.flock(self._handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            self._handle.seek(0)
            holder = self._handle.read().strip() or "another process"
            self._handle.close()
            self._handle = None
            raise RunDirectoryBusy(f"{self.path.parent} is in use by another run (pid {holder}); wait for it to end, "
                                   f"or pass --run-id NAME for a separate run directory") from None
        self._handle.seek(0)
        self._handle.truncate()
        self._handle.write(str(os.getpid()))
        self._handle.flush()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._handle is not None:
            fcntl.flock(self._handle, fcntl.LOCK_UN)
            self._handle.close()
            self._handle = None
