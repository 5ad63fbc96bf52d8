"""Pure rules behind the console: roles, deadlines, lapsed reservations, search terms."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from ivr.domain.deadlines import reservation_lapsed, seconds_left
from ivr.domain.roles import Role
from ivr.store.queries import fts_query

T0 = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)


def test_roles_include_the_ones_below() -> None:
    assert Role.ADMIN.allows(Role.OPERATOR) and Role.ADMIN.allows(Role.SUPERVISOR)
    assert Role.SUPERVISOR.allows(Role.OPERATOR) and not Role.SUPERVISOR.allows(Role.ADMIN)
    assert not Role.OPERATOR.allows(Role.SUPERVISOR)


def test_seconds_left_is_negative_when_overdue() -> None:
    assert seconds_left(T0, T0 - timedelta(minutes=2)) == 120
    assert seconds_left(T0, T0 + timedelta(seconds=30)) == -30
    assert seconds_left(None, T0) is None


def test_a_reservation_lapses_only_after_the_release_time_past_the_deadline() -> None:
    due, taken = T0, T0 - timedelta(minutes=30)
    assert not reservation_lapsed(due, taken, T0 + timedelta(minutes=9), 10)
    assert reservation_lapsed(due, taken, T0 + timedelta(minutes=10), 10)
    # Taken after the deadline: the release time counts from the taking.
    late = T0 + timedelta(minutes=20)
    assert not reservation_lapsed(due, late, late + timedelta(minutes=5), 10)
    assert reservation_lapsed(due, late, late + timedelta(minutes=10), 10)
    assert not reservation_lapsed(due, None, T0 + timedelta(days=1), 10)
    assert not reservation_lapsed(None, taken, T0 + timedelta(days=1), 10)


def test_free_text_becomes_quoted_prefix_terms() -> None:
    assert fts_query("casaca roja") == '"casaca"* "roja"*'
    assert fts_query('x" OR "y') == '"x"* "OR"* "y"*'
    assert fts_query("NEAR(a b) *") == '"NEAR"* "a"* "b"*'
    assert fts_query("¿¡!") == ""
