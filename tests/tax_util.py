"""Tax accounts for the tests: IDs that parse, the CSV the tax system sends, a clock."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from ivr.domain.taxids import ruc_check_digit

KEY_ENV = {"ALERTA_TAX_KEY": "k" * 32}
NOW = datetime(2026, 12, 4, 15, 0, tzinfo=UTC)  # 10:00 in Lima


def ruc(first10: str) -> str:
    """A RUC with its right check digit."""
    return first10 + str(ruc_check_digit(first10))


def wrong_ruc(first10: str) -> str:
    """The same RUC with its check digit off by one."""
    return first10 + str((ruc_check_digit(first10) + 1) % 10)


def dni(n: int) -> str:
    return f"{n:08d}"


def write_csv(path: Path, rows: list[tuple[str, str, str, str]],
              header: str = "tax_id,secret,amount,due_on") -> Path:
    lines = [header] + [",".join(r) for r in rows]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


@dataclass
class Clock:
    now: datetime = NOW

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)
