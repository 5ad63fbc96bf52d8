"""Logging set-up: plain text for people, or one JSON object per line for a log shipper.

The JSON formatter is ours (stdlib ``json``), not a dependency: it is twenty
lines, and what a line holds (time in ISO 8601 UTC, level, logger, message,
the exception as one string) is then fixed here rather than by another
project's release.
"""

from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, datetime
from typing import TextIO

FORMATS = ("text", "json")
TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


class JsonFormatter(logging.Formatter):
    """One JSON object per record, on one line (newlines inside are escaped)."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, object] = {
            "time": datetime.fromtimestamp(record.created, UTC)
            .isoformat(timespec="milliseconds")
            .replace("+00:00", "Z"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        if record.exc_info:
            line["exc_info"] = self.formatException(record.exc_info)
        elif record.exc_text:
            line["exc_info"] = record.exc_text
        if record.stack_info:
            line["stack_info"] = self.formatStack(record.stack_info)
        # ASCII only: U+2028 and friends would split the line for some readers.
        return json.dumps(line, ensure_ascii=True, default=str)


def setup_logging(level: str, log_format: str = "text", stream: TextIO | None = None) -> None:
    """Send the root logger's records to ``stream`` (stderr) in ``log_format``.

    Like ``logging.basicConfig``: does nothing when the root logger has handlers.
    """
    if log_format not in FORMATS:
        raise ValueError(f"log_format must be one of {FORMATS}, not {log_format!r}")
    root = logging.getLogger()
    if root.handlers:
        return  # configured already (by an embedding program or a test runner), as basicConfig
    handler = logging.StreamHandler(sys.stderr if stream is None else stream)
    handler.setFormatter(JsonFormatter() if log_format == "json" else
                         logging.Formatter(TEXT_FORMAT))
    root.addHandler(handler)
    root.setLevel(level.upper())
