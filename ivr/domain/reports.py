"""Report states, the transitions between them, and what a caller is told."""

from __future__ import annotations

from enum import StrEnum


class ReportState(StrEnum):
    RECEIVED = "received"
    ACKNOWLEDGED = "acknowledged"
    DISPATCHED = "dispatched"
    ON_SCENE = "on_scene"
    RESOLVED = "resolved"
    FALSE_REPORT = "false_report"
    DUPLICATE = "duplicate"
    HANDED_OVER = "handed_over"  # to a neighbouring municipality, which goes on with it


TRANSITIONS: dict[ReportState, frozenset[ReportState]] = {
    ReportState.RECEIVED: frozenset(
        {ReportState.ACKNOWLEDGED, ReportState.FALSE_REPORT, ReportState.DUPLICATE}
    ),
    ReportState.ACKNOWLEDGED: frozenset(
        {
            ReportState.DISPATCHED,
            ReportState.RESOLVED,
            ReportState.FALSE_REPORT,
            ReportState.DUPLICATE,
        }
    ),
    ReportState.DISPATCHED: frozenset({ReportState.ON_SCENE, ReportState.RESOLVED}),
    ReportState.ON_SCENE: frozenset({ReportState.RESOLVED}),
    ReportState.RESOLVED: frozenset(),
    ReportState.FALSE_REPORT: frozenset(),
    ReportState.DUPLICATE: frozenset(),
    ReportState.HANDED_OVER: frozenset(),
}


class TransitionError(ValueError):
    pass


def check_transition(current: ReportState, target: ReportState) -> None:
    if target not in TRANSITIONS[current]:
        allowed = ", ".join(sorted(s.value for s in TRANSITIONS[current])) or "none"
        raise TransitionError(
            f"a report that is {current.value} cannot become {target.value} (allowed: {allowed})"
        )


class CallerStatus(StrEnum):
    """The three answers the status line gives a citizen."""

    RECEIVED = "received"
    IN_PROCESS = "in_process"
    RESOLVED = "resolved"


def caller_status(state: ReportState) -> CallerStatus:
    if state is ReportState.RECEIVED:
        return CallerStatus.RECEIVED
    if state in (ReportState.ACKNOWLEDGED, ReportState.DISPATCHED, ReportState.ON_SCENE,
                 ReportState.HANDED_OVER):  # the neighbour goes on with it
        return CallerStatus.IN_PROCESS
    return CallerStatus.RESOLVED


def age_for_speech(seconds: float) -> tuple[int, str] | None:
    """How long ago, in the largest unit we have prompts for: (n, unit).

    None when it is too long ago to say in whole prompts (over 60 days).
    """
    minutes = max(0, int(seconds // 60))
    if minutes < 60:
        return minutes, "minute" if minutes == 1 else "minutes"
    hours = minutes // 60
    if hours < 48:
        return hours, "hour" if hours == 1 else "hours"
    days = hours // 24
    if days <= 60:
        return days, "days"
    return None


OPEN_STATES = frozenset(
    {ReportState.RECEIVED, ReportState.ACKNOWLEDGED, ReportState.DISPATCHED, ReportState.ON_SCENE}
)
# The SQL twin of OPEN_STATES; it must match the partial index reports_open_queue.
OPEN_STATES_SQL = "('received', 'acknowledged', 'dispatched', 'on_scene')"


def is_open(state: ReportState) -> bool:
    return state in OPEN_STATES
