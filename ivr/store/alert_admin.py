"""What admins set for alerts, per municipality: the rules (which cause notifies whom, by
text and/or e-mail), the on-duty roster, and each person's phone, address and quiet
hours. Every change is an event of the municipality (the audit trail).
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

import aiosqlite

from ivr.domain.alerting import Person, Rule, RuleError, check_hhmm, check_rule
from ivr.store import events
from ivr.store.alert_feed import places
from ivr.store.db import Database
from ivr.store.reports import iso


class AlertAdmin:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def _change(self, municipality: int | None, kind: str, actor: str, now: datetime,
                      data: dict[str, Any], sql: str, params: tuple[Any, ...]) -> int:
        async def op(conn: aiosqlite.Connection) -> int:
            cur = await conn.execute(sql, params)
            if not cur.rowcount:
                return 0
            await events.append(conn, None, kind, iso(now), actor=actor,
                                data={**data, "id": data.get("id") or cur.lastrowid},
                                municipality=municipality)
            return int(data.get("id") or cur.lastrowid or 0)

        return await self.db.write(op)

    # --- rules --------------------------------------------------------------------

    async def rules(self, municipality: int) -> list[Rule]:
        rows = await self.db.fetchall(
            "SELECT id, municipality_id, cause, audience, sms, email, after_s FROM alert_rules"
            " WHERE municipality_id = ? AND active = 1 ORDER BY cause, id", (municipality,))
        return [Rule(r[0], r[1], r[2], r[3], bool(r[4]), bool(r[5]), r[6]) for r in rows]

    async def add_rule(self, municipality: int, cause: str, audience: str, *, sms: bool,
                       email: bool, after_s: int, actor: str, now: datetime) -> int:
        check_rule(cause, audience, sms, email, after_s)
        if audience.startswith("user:") and not await self._has_role(
                int(audience[5:]), municipality):
            raise RuleError("that user has no role in this municipality")
        return await self._change(
            municipality, "alerts.rule_added", actor, now,
            {"cause": cause, "audience": audience, "sms": sms, "email": email,
             "after_s": after_s},
            "INSERT INTO alert_rules (municipality_id, cause, audience, sms, email, after_s,"
            " updated_by, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (municipality, cause, audience, int(sms), int(email), after_s, actor, iso(now)))

    async def remove_rule(self, municipality: int, rule: int, actor: str, now: datetime
                          ) -> bool:
        return bool(await self._change(
            municipality, "alerts.rule_removed", actor, now, {"id": rule},
            "UPDATE alert_rules SET active = 0, updated_by = ?, updated_at = ?"
            " WHERE id = ? AND municipality_id = ? AND active = 1",
            (actor, iso(now), rule, municipality)))

    # --- the roster ---------------------------------------------------------------

    async def _has_role(self, user: int, municipality: int, role: str | None = None) -> bool:
        row = await self.db.fetchone(
            "SELECT role FROM user_roles WHERE user_id = ? AND municipality_id = ?",
            (user, municipality))
        return row is not None and (role is None or row["role"] == role)

    async def add_shift(self, municipality: int, user: int, role: str, starts: datetime,
                        ends: datetime, rank: int, actor: str, now: datetime) -> int:
        if ends <= starts:
            raise RuleError("a shift ends after it starts")
        if (ends - starts).total_seconds() > 7 * 86400:
            raise RuleError("a shift lasts at most 7 days")
        if not 1 <= rank <= 9:
            raise RuleError("the rank is 1 (told first) to 9")
        if not await self._has_role(user, municipality, role):
            raise RuleError(f"that user is not a {role} here")
        return await self._change(
            municipality, "roster.shift_added", actor, now,
            {"user": user, "role": role, "starts_at": iso(starts), "ends_at": iso(ends),
             "rank": rank},
            "INSERT INTO duty_shifts (municipality_id, user_id, role, starts_at, ends_at, rank,"
            " created_by, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (municipality, user, role, iso(starts), iso(ends), rank, actor, iso(now)))

    async def remove_shift(self, municipality: int, shift: int, actor: str, now: datetime
                           ) -> bool:
        return bool(await self._change(
            municipality, "roster.shift_removed", actor, now, {"id": shift},
            "DELETE FROM duty_shifts WHERE id = ? AND municipality_id = ?",
            (shift, municipality)))

    async def shifts(self, municipality: int, since: datetime, limit: int = 200
                     ) -> list[dict[str, Any]]:
        rows = await self.db.fetchall(
            "SELECT s.id, s.user_id, u.name, s.role, s.starts_at, s.ends_at, s.rank"
            " FROM duty_shifts s JOIN users u ON u.id = s.user_id"
            " WHERE s.municipality_id = ? AND s.ends_at > ? ORDER BY s.starts_at, s.rank"
            " LIMIT ?", (municipality, iso(since), limit))
        return [dict(r) for r in rows]

    async def people(self, municipality: int, now: datetime) -> list[Person]:
        """The municipality's staff with their contacts, and who is on duty now."""
        found = await places(self.db.fetchall, {municipality}, now)
        return list(found[municipality].people) if municipality in found else []

    # --- a person's contacts and quiet hours ----------------------------------------

    async def set_contact(self, municipality: int, user: int, *, phone: str | None,
                          email: str | None, quiet_from: str | None, quiet_until: str | None,
                          actor: str, now: datetime) -> bool:
        phone = "".join(ch for ch in (phone or "") if ch.isdigit()) or None
        if phone is not None and not 6 <= len(phone) <= 15:
            raise RuleError("a phone is 6 to 15 digits")
        email = (email or "").strip() or None
        if email is not None and (len(email) > 254 or email.count("@") != 1
                                  or any(c.isspace() for c in email)):
            raise RuleError("that is not an e-mail address")
        quiet = [check_hhmm(q) if q else None for q in (quiet_from, quiet_until)]
        if (quiet[0] is None) != (quiet[1] is None):
            raise RuleError("quiet hours need a start and an end")
        if not await self._has_role(user, municipality):
            raise RuleError("no such user here")
        return bool(await self._change(
            municipality, "user.contact_changed", actor, now,
            {"id": user, "phone": bool(phone), "email": bool(email),
             "quiet": f"{quiet[0]}-{quiet[1]}" if quiet[0] else None},
            "UPDATE users SET phone = ?, email = ?, quiet_from = ?, quiet_until = ?,"
            " updated_at = ? WHERE id = ?",
            (phone, email, quiet[0], quiet[1], iso(now), user)))

    # --- reads for the admin page -------------------------------------------------

    async def member(self, user: int, municipality: int) -> bool:
        """Whether ``user`` has a role in ``municipality`` (else, to the console, no such
        user: one of another municipality is not told apart from none)."""
        return await self._has_role(user, municipality)

    async def staff(self, municipality: int) -> list[dict[str, Any]]:
        """Everyone with a role in ``municipality``, active or not, with their contacts;
        ``shared``: the account works for another municipality too."""
        rows = await self.db.fetchall(
            "SELECT u.id, u.name, g.role, u.active, u.phone, u.email, u.quiet_from,"
            " u.quiet_until, (SELECT count(*) FROM user_roles o WHERE o.user_id = u.id"
            "  AND o.municipality_id != g.municipality_id) AS elsewhere"
            " FROM user_roles g JOIN users u ON u.id = g.user_id"
            " WHERE g.municipality_id = ? ORDER BY u.name", (municipality,))
        return [{**dict(r), "active": bool(r["active"]), "shared": bool(r["elsewhere"])}
                for r in rows]

    async def changes(self, municipality: int, limit: int = 30) -> list[dict[str, Any]]:
        """The latest changes to alerts, the roster, contacts and texting (the audit)."""
        rows = await self.db.fetchall(
            "SELECT id, at, actor, kind, data FROM events WHERE municipality_id = ?"
            " AND report_id IS NULL AND kind IN (?, ?, ?, ?, ?, ?) ORDER BY id DESC LIMIT ?",
            (municipality, *AUDITED, limit))
        return [{**dict(r), "data": json.loads(r["data"] or "{}")} for r in rows]

    async def number_taken(self, number: str, municipality: int) -> bool:
        """Whether another municipality texts from ``number`` (each number is one's)."""
        row = await self.db.fetchone(
            "SELECT 1 AS taken FROM sms_settings WHERE number = ? AND municipality_id != ?",
            (number, municipality))
        return row is not None


AUDITED = ("alerts.rule_added", "alerts.rule_removed", "roster.shift_added",
           "roster.shift_removed", "user.contact_changed", "texts.settings_changed")
