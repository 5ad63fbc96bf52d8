"""``log_format = "json"``: every log line is one JSON object a log shipper can parse."""

from __future__ import annotations

import io
import json
import logging
import os
import subprocess
import sys
from datetime import datetime
from pathlib import Path

from ivr.logformat import JsonFormatter

ROOT = Path(__file__).resolve().parent.parent


def test_the_alerta_command_logs_one_json_object_per_line(tmp_path: Path) -> None:
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "ALERTA_LOG_FORMAT": "json",
        "ALERTA_DATABASE": str(tmp_path / "alerta.sqlite3"),
        "ALERTA_VOICECLIPS": str(tmp_path / "voiceclips"),
    }
    done = subprocess.run([sys.executable, "-m", "ivr.cli", "reports"], env=env, cwd=tmp_path,
                          capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    lines = done.stderr.splitlines()
    assert lines, "a first run applies migrations and says so"
    records = [json.loads(line) for line in lines]
    for record in records:
        assert set(record) >= {"time", "level", "logger", "message"}
        assert record["time"].endswith("Z")
        assert datetime.fromisoformat(record["time"]).utcoffset() is not None
    assert any(r["logger"] == "ivr.store.db" and r["message"] == "applying migration 001"
               and r["level"] == "INFO" for r in records)


def test_an_exception_and_a_multi_line_message_stay_on_one_line() -> None:
    out = io.StringIO()
    handler = logging.StreamHandler(out)
    handler.setFormatter(JsonFormatter())
    logger = logging.getLogger("alerta.test.json")
    logger.addHandler(handler)
    logger.propagate = False
    try:
        try:
            raise ValueError("bad\nvalue \u2028 ñ")
        except ValueError:
            logger.exception("call %s: flow failed\nsecond line", "1795584686.1")
    finally:
        logger.removeHandler(handler)
        logger.propagate = True
    lines = out.getvalue().splitlines()
    assert len(lines) == 1
    record = json.loads(lines[0])
    assert record["level"] == "ERROR" and record["logger"] == "alerta.test.json"
    assert record["message"] == "call 1795584686.1: flow failed\nsecond line"
    assert record["exc_info"].startswith("Traceback (most recent call last):")
    assert "ValueError: bad\nvalue \u2028 ñ" in record["exc_info"]


def test_an_unknown_log_format_is_a_configuration_error(tmp_path: Path) -> None:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "ALERTA_LOG_FORMAT": "xml"}
    done = subprocess.run([sys.executable, "-m", "ivr.cli", "settings"], env=env, cwd=tmp_path,
                          capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 2
    assert "log_format must be text or json" in done.stderr
