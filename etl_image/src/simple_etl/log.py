"""JSON log lines on stderr: one object per event, machine-readable by any log stack."""

from __future__ import annotations

import json
import sys
import time
from typing import Any, TextIO

_LEVELS = {"DEBUG": 10, "INFO": 20, "WARNING": 30, "ERROR": 40}


class JsonLogger:
    def __init__(self, level: str = "INFO", stream: TextIO | None = None, **context: Any) -> None:
        self._threshold = _LEVELS[level]
        self._stream = stream
        self._context = context

    def bind(self, **context: Any) -> JsonLogger:
        logger = JsonLogger(stream=self._stream, **{**self._context, **context})
        logger._threshold = self._threshold
        return logger

    def log(self, level: str, event: str, **fields: Any) -> None:
        if _LEVELS[level] < self._threshold:
            return
        record = {
            "ts": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime()) + "Z",
            "level": level.lower(),
            "event": event,
            **self._context,
            **fields,
        }
        stream = self._stream or sys.stderr
        stream.write(json.dumps(record, default=str, ensure_ascii=False) + "\n")
        stream.flush()

    def debug(self, event: str, **fields: Any) -> None:
        self.log("DEBUG", event, **fields)

    def info(self, event: str, **fields: Any) -> None:
        self.log("INFO", event, **fields)

    def warning(self, event: str, **fields: Any) -> None:
        self.log("WARNING", event, **fields)

    def error(self, event: str, **fields: Any) -> None:
        self.log("ERROR", event, **fields)
