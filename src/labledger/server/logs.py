"""Structured logs: one JSON object per line, with the request id when there is one."""

from __future__ import annotations

import json
import logging
import logging.config
from typing import Any

__all__ = ["JsonFormatter", "configure_logging", "log_config"]

_FIELDS = ("request_id", "method", "path", "status", "duration_ms", "user", "client")


class JsonFormatter(logging.Formatter):
    """Format a record as a JSON line: time, level, logger, message and the request fields."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": round(record.created, 3),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        for field in _FIELDS:
            value = getattr(record, field, None)
            if value is not None:
                entry[field] = value
        if record.exc_info:
            entry["error"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str)


def log_config(level: str = "info") -> dict[str, Any]:
    """A ``logging.config`` dictionary sending the server's and uvicorn's logs to stderr as JSON."""
    handler = {"class": "logging.StreamHandler", "formatter": "json", "stream": "ext://sys.stderr"}
    loggers = {
        name: {"handlers": ["json"], "level": level.upper(), "propagate": False}
        for name in ("labledger.server", "uvicorn", "uvicorn.error")
    }
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"json": {"()": JsonFormatter}},
        "handlers": {"json": handler},
        "loggers": loggers,
    }


def configure_logging(level: str = "info") -> None:
    """Send the server's logs to stderr as JSON from now on (before uvicorn starts, too)."""
    logging.config.dictConfig(log_config(level))
