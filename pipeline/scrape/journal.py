"""An append-only record of finished image URLs, so an interrupted crawl resumes.

It lives inside the output folder because ``data/scrape`` is a DVC ``persist``
output: DVC keeps the folder between runs, and the journal travels with the
images it describes. Each line is written and fsynced after its image file is
in place, so a killed run loses at most the image being downloaded; a torn last
line is ignored on reading.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from pipeline.io.atomic import write_text
from pipeline.log import get_logger

log = get_logger(__name__)

JOURNAL_NAME = "journal.jsonl"


class Journal:
    """Entries keyed by the (public) image URL; the last entry for a URL wins."""

    def __init__(self, out_dir: str | os.PathLike[str]) -> None:
        self.path = Path(out_dir) / JOURNAL_NAME
        self.entries: dict[str, dict[str, Any]] = {}
        self._fh: Any = None
        if self.path.is_file():
            torn = 0
            for line in self.path.read_text(encoding="utf-8").splitlines():
                try:
                    entry = json.loads(line)
                    self.entries[entry["image_url"]] = entry
                except (json.JSONDecodeError, KeyError, TypeError):
                    torn += 1
            log.info("journal loaded", path=str(self.path), entries=len(self.entries), torn_lines=torn)

    def get(self, image_url: str) -> dict[str, Any] | None:
        """The finished entry for ``image_url``, if any."""
        return self.entries.get(image_url)

    def record(self, entry: dict[str, Any]) -> None:
        """Append one finished entry durably."""
        if self._fh is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            # A torn last line from a killed run must not swallow our first entry.
            needs_newline = self.path.is_file() and self.path.stat().st_size > 0 and not self.path.read_bytes().endswith(b"\n")
            self._fh = open(self.path, "a", encoding="utf-8")
            if needs_newline:
                self._fh.write("\n")
        self._fh.write(json.dumps(entry, sort_keys=True) + "\n")
        self._fh.flush()
        os.fsync(self._fh.fileno())
        self.entries[entry["image_url"]] = entry

    def rewrite(self, entries: Iterable[dict[str, Any]]) -> None:
        """Replace the journal atomically with ``entries`` (compaction at the end of a run)."""
        self.close()
        kept = {e["image_url"]: e for e in entries}
        write_text(self.path, "".join(json.dumps(e, sort_keys=True) + "\n" for e in kept.values()))
        self.entries = kept

    def close(self) -> None:
        """Close the append handle."""
        if self._fh is not None:
            self._fh.close()
            self._fh = None
