"""Retention rules for voice clips: which clip may be removed, and when. No I/O.

Rules come from configuration (``[[retention]]`` tables) and are read in order;
the first rule that matches a report's type and state decides. A clip no rule
matches is kept. A report on legal hold keeps every clip, whatever the rules say.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from ivr.domain.incidents import ConfigError
from ivr.domain.reports import ReportState

# Without a ``states`` list a rule applies to closed reports only: an open case
# never loses its recording because someone forgot to write the states.
CLOSED_STATES = frozenset(
    {ReportState.RESOLVED.value, ReportState.FALSE_REPORT.value, ReportState.DUPLICATE.value}
)
_FIELDS = {"name", "types", "states", "keep_days", "until_released", "purge_transcript"}


@dataclass(frozen=True, slots=True)
class RetentionRule:
    name: str
    types: frozenset[str] = frozenset()  # empty: every incident type
    states: frozenset[str] = CLOSED_STATES
    keep_days: int | None = None  # after recording; after release with until_released
    until_released: bool = False  # kept until a supervisor releases the report's clips
    purge_transcript: bool = False  # remove the transcript with the audio

    def matches(self, report_type: str, state: str) -> bool:
        return (not self.types or report_type in self.types) and state in self.states

    def allows_purge(
        self, *, recorded_at: datetime, now: datetime, released_at: datetime | None
    ) -> bool:
        keep = timedelta(days=self.keep_days or 0)
        if self.until_released:
            return released_at is not None and now - released_at >= keep
        return now - recorded_at >= keep


def first_rule(
    rules: Iterable[RetentionRule], report_type: str, state: str
) -> RetentionRule | None:
    return next((r for r in rules if r.matches(report_type, state)), None)


def purge_allowed(
    rules: Sequence[RetentionRule],
    *,
    report_type: str,
    state: str,
    legal_hold: bool,
    recorded_at: datetime,
    released_at: datetime | None,
    now: datetime,
) -> RetentionRule | None:
    """The rule that allows removing this clip now, or None to keep it."""
    if legal_hold:
        return None
    rule = first_rule(rules, report_type, state)
    if rule is None:
        return None
    allowed = rule.allows_purge(recorded_at=recorded_at, now=now, released_at=released_at)
    return rule if allowed else None


def _strings(value: Any, where: str) -> frozenset[str]:
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        raise ConfigError(f"{where} must be a list of names")
    return frozenset(value)


def parse_rules(raw: Any, known_types: Iterable[str] = ()) -> tuple[RetentionRule, ...]:
    """``[[retention]]`` tables → rules; a mistake is refused at start-up, not at purge time."""
    if not isinstance(raw, list):
        raise ConfigError("retention must be a list of tables ([[retention]])")
    known = frozenset(known_types)
    states = frozenset(s.value for s in ReportState)
    rules = []
    for n, item in enumerate(raw, 1):
        where = f"retention rule {n}"
        if not isinstance(item, dict):
            raise ConfigError(f"{where} must be a table")
        unknown = set(item) - _FIELDS
        if unknown:
            raise ConfigError(f"{where}: unknown fields {sorted(unknown)}")
        types = _strings(item.get("types", []), f"{where}: types")
        if known and types - known:
            raise ConfigError(f"{where}: unknown incident types {sorted(types - known)}")
        rule_states = _strings(item["states"], f"{where}: states") if "states" in item else (
            CLOSED_STATES
        )
        if rule_states - states:
            raise ConfigError(f"{where}: unknown report states {sorted(rule_states - states)}")
        keep_days = item.get("keep_days")
        until_released = item.get("until_released", False)
        if not isinstance(until_released, bool):
            raise ConfigError(f"{where}: until_released must be true or false")
        if keep_days is None and not until_released:
            raise ConfigError(f"{where}: give keep_days, until_released = true, or both")
        if keep_days is not None and (
            isinstance(keep_days, bool) or not isinstance(keep_days, int) or keep_days < 0
        ):
            raise ConfigError(f"{where}: keep_days must be a whole number of days, 0 or more")
        purge_transcript = item.get("purge_transcript", False)
        if not isinstance(purge_transcript, bool):
            raise ConfigError(f"{where}: purge_transcript must be true or false")
        rules.append(
            RetentionRule(
                name=str(item.get("name") or where),
                types=types,
                states=rule_states,
                keep_days=keep_days,
                until_released=until_released,
                purge_transcript=purge_transcript,
            )
        )
    return tuple(rules)
