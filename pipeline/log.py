"""Structured logging: one ``key=value`` line per event, easy to grep and to parse."""

from __future__ import annotations

import logging
import os
import sys
from typing import Any

_CONFIGURED = False


class KeyValueFormatter(logging.Formatter):
    """Render a record as ``time level logger msg key=value ...``."""

    def format(self, record: logging.LogRecord) -> str:
        base = f"{self.formatTime(record, '%H:%M:%S')} {record.levelname:<7} {record.name}: {record.getMessage()}"
        fields: dict[str, Any] = getattr(record, "fields", {}) or {}
        if fields:
            base += " " + " ".join(f"{k}={_quote(v)}" for k, v in fields.items())
        if record.exc_info:
            base += "\n" + self.formatException(record.exc_info)
        return base


def _quote(value: Any) -> str:
    text = str(value)
    return f'"{text}"' if (" " in text or not text) else text


def configure_logging(level: str | int | None = None) -> None:
    """Send library logs to stderr once; level from the argument or ``VTON_LOG_LEVEL``."""
    global _CONFIGURED
    level = level or os.environ.get("VTON_LOG_LEVEL", "INFO")
    root = logging.getLogger("pipeline")
    root.setLevel(level)
    if not _CONFIGURED:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(KeyValueFormatter())
        root.addHandler(handler)
        root.propagate = False
        _CONFIGURED = True


def get_logger(name: str) -> "StructuredLogger":
    """Return a logger whose methods take keyword fields: ``log.info("kept", url=u)``."""
    return StructuredLogger(logging.getLogger(name))


class StructuredLogger:
    """Thin wrapper that turns keyword arguments into structured fields."""

    def __init__(self, logger: logging.Logger) -> None:
        self._logger = logger

    def _log(self, level: int, msg: str, exc_info: bool = False, **fields: Any) -> None:
        if self._logger.isEnabledFor(level):
            self._logger.log(level, msg, extra={"fields": fields}, exc_info=exc_info, stacklevel=3)

    def debug(self, msg: str, **fields: Any) -> None:
        self._log(logging.DEBUG, msg, **fields)

    def info(self, msg: str, **fields: Any) -> None:
        self._log(logging.INFO, msg, **fields)

    def warning(self, msg: str, **fields: Any) -> None:
        self._log(logging.WARNING, msg, **fields)

    def error(self, msg: str, exc_info: bool = False, **fields: Any) -> None:
        self._log(logging.ERROR, msg, exc_info=exc_info, **fields)
