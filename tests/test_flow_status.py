"""Every branch of the ``status`` flow (its own number, or key 9 in the main menu)."""

from __future__ import annotations

from pathlib import Path

import aiosqlite

from ivr.config import Settings
from ivr.core.ports import NewReport
from ivr.store import events
from tests.e2e import running_line


def ids(played: list[str]) -> list[str]:
    return [p.rsplit("/", 2)[-2] + "/" + p.rsplit("/", 1)[-1] for p in played]


async def _report_in_state(line, state: str, at: str) -> int:  # type: ignore[no-untyped-def]
    number: int = await line.svc.reports.open_report(
        NewReport("noise", 5, False, "es", "c", "5551234", "5551234")
    )

    async def op(conn: aiosqlite.Connection) -> None:
        await conn.execute("UPDATE reports SET state = ? WHERE id = ?", (state, number))
        await events.append(conn, number, "report.state_changed", at, actor="user:ana",
                            data={"to": state})

    await line.svc.db.write(op)
    return number


async def test_status_line_says_in_process_and_hours_ago(settings: Settings) -> None:
    async with running_line(settings) as line:
        from datetime import timedelta

        from ivr.store.reports import iso, utc_now

        at = iso(utc_now() - timedelta(hours=5, minutes=10))
        number = await _report_in_state(line, "dispatched", at)
        result = await line.call(script="status", keys=[f"{number}#"], language="es")
        heard = ids(result.played)
        assert heard[heard.index("es/status_in_process") :] == [
            "es/status_in_process", "es/last_changed", "es/number_5", "es/unit_hours", "es/goodbye"
        ]
        assert result.steps == ["status"] and result.commands[0] == "ANSWER"


async def test_status_line_resolved_long_ago(settings: Settings) -> None:
    async with running_line(settings) as line:
        number = await _report_in_state(line, "resolved", "2020-01-01T00:00:00.000+00:00")
        result = await line.call(script="status?lang=en", keys=[f"{number}#"])
        heard = ids(result.played)
        assert "en/status_resolved" in heard and "en/status_long_ago" in heard


async def test_unknown_number_is_asked_again_then_given_up(settings: Settings) -> None:
    async with running_line(settings) as line:
        result = await line.call(script="status", keys=["999#", "", "0#"], language="es")
        heard = ids(result.played)
        assert heard.count("es/status_not_found") == 2  # two retries, then the final notice
        assert heard.count("es/no_input") == 1
        assert heard[-1] == "es/goodbye"


async def test_hangup_during_status_is_harmless(settings: Settings, tmp_path: Path) -> None:
    async with running_line(settings) as line:
        result = await line.call(script="status", keys=["1#"], hangup_at="status")
        assert result.hung_up and line.server.active_calls == 0
