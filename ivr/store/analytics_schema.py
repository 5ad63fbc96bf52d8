"""The rollup tables' shape: keys, measures, and the SQL that keeps and recounts them.

One definition serves three uses, so they cannot drift apart:

* migration 004's triggers were generated from it, and migration 009's (per
  municipality) are (``python -m ivr.store.analytics_schema`` prints 009; a migration
  file is kept as written, it never changes once run);
* the full recount (``alerta stats rebuild``, the bulk loaders, the tests);
* the dashboard's queries, which sum the measures named here.

Every measure is an expression over one row of the ``report_facts`` view (a
report with its local day, hour, weekday, time to first action, callback
outcome and map cell already worked out), so a report's contribution is the
same whether a trigger adds it or a recount does.
"""

from __future__ import annotations

from dataclasses import dataclass

HOURS = tuple(f"h{h:02d}" for h in range(24))
STATES = ("received", "acknowledged", "dispatched", "on_scene", "resolved", "false_report",
          "duplicate", "handed_over")
# Time to first action, upper bounds in seconds of each bucket (the last is open).
FIRST_ACTION_BOUNDS = (60, 300, 900, 3600, 14400, 86400)
FA_BUCKETS = tuple(f"fa_b{n}" for n in range(len(FIRST_ACTION_BOUNDS) + 1))
CALLBACKS = ("on_time", "late", "pending")
# Density map cells: 1/500 of a degree (about 220 m at Lima's latitude).
CELLS_PER_DEGREE = 500
CELL_ROW = 1_000_000  # cell = row * CELL_ROW + column

COUNTS: tuple[tuple[str, str], ...] = (
    ("n", "1"),
    *((h, f"hour IS {n}") for n, h in enumerate(HOURS)),
    *((f"st_{s}", f"state IS '{s}'") for s in STATES),
    ("fa_n", "fa_s IS NOT NULL"),
    ("fa_s", "coalesce(fa_s, 0)"),
    *((b, f"fa_bucket IS {n}") for n, b in enumerate(FA_BUCKETS)),
    *((f"cb_{c}", f"cb IS '{c}'") for c in CALLBACKS),
)
HOUR_COUNTS: tuple[tuple[str, str], ...] = (("n", "1"), *COUNTS[1:25])
CELL_COUNTS: tuple[tuple[str, str], ...] = (("n", "1"),)


@dataclass(frozen=True, slots=True)
class Rollup:
    table: str
    keys: tuple[str, ...]
    measures: tuple[tuple[str, str], ...]
    where: str = ""  # which reports it counts at all
    # Report columns whose change moves a report's contribution in this table.
    columns: tuple[str, ...] = ()

    @property
    def measure_names(self) -> tuple[str, ...]:
        return tuple(name for name, _ in self.measures)


# Every rollup is kept per municipality, each counted on its own clock.
_BASE = ("id", "created_at", "type", "zone", "channel")
_M = "municipality_id"
ROLLUPS = (
    Rollup("rollup_day", (_M, "day", "type", "zone", "channel"), COUNTS,
           columns=(*_BASE, "state", "first_action_at", "callback_due_at", "callback_done_at")),
    Rollup("rollup_month", (_M, "month", "type", "zone", "channel"), COUNTS,
           columns=(*_BASE, "state", "first_action_at", "callback_due_at", "callback_done_at")),
    Rollup("rollup_weekhour", (_M, "month", "weekday", "type", "zone", "channel"), HOUR_COUNTS,
           columns=_BASE),
    Rollup("rollup_cell", (_M, "month", "type", "zone", "channel", "cell"), CELL_COUNTS,
           where="cell IS NOT NULL", columns=(*_BASE, "lat", "lon")),
)
BY_NAME = {r.table: r for r in ROLLUPS}


def create_table(r: Rollup) -> str:
    keys = [f"{k} {'INTEGER' if k in ('weekday', 'cell', _M) else 'TEXT'} NOT NULL"
            for k in r.keys]
    cols = [f"{m} INTEGER NOT NULL DEFAULT 0" for m in r.measure_names]
    lines = [", ".join(keys)]
    for col in cols:  # a few columns a line
        if len(lines[-1]) + len(col) > 90 or lines[-1] is lines[0]:
            lines.append(col)
        else:
            lines[-1] += ", " + col
    lines.append(f"PRIMARY KEY ({', '.join(r.keys)})")
    return f"CREATE TABLE {r.table} (\n    " + ",\n    ".join(lines) + "\n) WITHOUT ROWID;"


def upsert(r: Rollup, report: str, sign: int, when: str = "", *, portable: bool = False) -> str:
    """Add (sign 1) or take away (sign -1) one report's contribution.

    The report's facts are read from ``analytics_scratch``, where the trigger put
    them once: read through the view, every ``hour IS n`` would work the local
    time out again, and a report insert would cost three times as much.
    ``portable`` casts each truth to an integer, as PostgreSQL needs (SQLite's
    migrations keep the text they were run with).
    """
    names = ", ".join(r.measure_names)
    exprs = [f"CAST(({e}) AS INTEGER)" if portable else e for _, e in r.measures]
    values = ", ".join(e if sign > 0 else f"-({e})" for e in exprs)
    keys = ", ".join(r.keys)
    where = " AND ".join(w for w in (f"id = {report}", r.where, when and f"({when})") if w)
    sets = ", ".join(f"{m} = {m} + excluded.{m}" for m in r.measure_names)
    return (f"INSERT INTO {r.table} ({keys}, {names})\n"
            f"    SELECT {keys}, {values}\n"
            f"    FROM analytics_scratch WHERE {where}\n"
            f"    ON CONFLICT ({keys}) DO UPDATE SET {sets};")


def recount(r: Rollup, target: str | None = None, days: str = "rollup_day") -> str:
    """Fill ``target`` (default: the rollup itself, emptied first) from every report.

    The day and cell rollups are counted from the reports; the month-level ones
    from the day rollup just counted (``days``), a few rows per day instead of
    every report again. The reports are read through a subquery that SQLite
    does not flatten (LIMIT -1), so each report's local time is worked out once.
    """
    names = ", ".join(r.measure_names)
    keys = ", ".join(r.keys)
    if r.table in ("rollup_month", "rollup_weekhour"):
        derived = {"month": "substr(day, 1, 7)", "weekday": "CAST(strftime('%w', day) AS INTEGER)"}
        select = ", ".join(derived.get(k, k) for k in r.keys)
        sums = ", ".join(f"sum({m})" for m in r.measure_names)
        return (f"INSERT INTO {target or r.table} ({keys}, {names})"
                f" SELECT {select}, {sums} FROM {days} GROUP BY {select}")
    sums = ", ".join(f"sum({expr})" for _, expr in r.measures)
    where = f" WHERE {r.where}" if r.where else ""
    return (f"INSERT INTO {target or r.table} ({keys}, {names})"
            f" SELECT {keys}, {sums} FROM (SELECT * FROM report_facts{where} LIMIT -1)"
            f" GROUP BY {keys}")


def _changed(columns: tuple[str, ...]) -> str:
    return " OR ".join(f"OLD.{c} IS NOT NEW.{c}" for c in columns)


FACTS = ("id", _M, "type", "zone", "channel", "state", "day", "month", "hour", "weekday",
         "fa_s", "fa_bucket", "cb", "cell")

# One report as the rollups count it, on its municipality's clock (as migration 009 made
# it; migration 013 leaves out participation cases: ``FACTS_VIEW``).
FACTS_VIEW_009 = """CREATE VIEW report_facts AS
SELECT id, municipality_id, type, zone, channel, state, created_at,
       substr(lt, 1, 10) AS day,
       substr(lt, 1, 7) AS month,
       CAST(substr(lt, 12, 2) AS INTEGER) AS hour,
       CAST(strftime('%w', lt) AS INTEGER) AS weekday,
       fa_s,
       CASE WHEN fa_s IS NULL THEN NULL WHEN fa_s < 60 THEN 0 WHEN fa_s < 300 THEN 1
            WHEN fa_s < 900 THEN 2 WHEN fa_s < 3600 THEN 3 WHEN fa_s < 14400 THEN 4
            WHEN fa_s < 86400 THEN 5 ELSE 6 END AS fa_bucket,
       CASE WHEN callback_due_at IS NULL THEN NULL
            WHEN callback_done_at IS NULL THEN 'pending'
            WHEN julianday(callback_done_at) <= julianday(callback_due_at) THEN 'on_time'
            ELSE 'late' END AS cb,
       CASE WHEN lat BETWEEN -90 AND 90 AND lon BETWEEN -180 AND 180
            THEN CAST((lat + 90.0) * 500 AS INTEGER) * 1000000
                 + CAST((lon + 180.0) * 500 AS INTEGER) END AS cell
FROM (
    SELECT r.id, r.municipality_id, r.type, coalesce(r.zone, '') AS zone, r.channel, r.state,
           r.created_at, r.callback_due_at, r.callback_done_at, r.lat, r.lon,
           coalesce(datetime(r.created_at,
                             (SELECT m.utc_offset_minutes || ' minutes' FROM municipalities m
                              WHERE m.id = r.municipality_id)),
                    '0000-01-01 00:00:00') AS lt,
           max(0, CAST(round((julianday(r.first_action_at) - julianday(r.created_at)) * 86400)
                       AS INTEGER)) AS fa_s
    FROM reports r
);"""
FACTS_VIEW = FACTS_VIEW_009.replace("    FROM reports r\n",
                                    "    FROM reports r\n    WHERE r.service IS NULL\n")

SCRATCH = """CREATE TABLE analytics_scratch (
    id INTEGER, municipality_id INTEGER, type TEXT, zone TEXT, channel TEXT, state TEXT,
    day TEXT, month TEXT, hour INTEGER, weekday INTEGER, fa_s INTEGER, fa_bucket INTEGER,
    cb TEXT, cell INTEGER
);"""


def _body(report: str, sign: int, *, update: bool = False, portable: bool = False) -> str:
    lines = [f"INSERT INTO analytics_scratch SELECT {', '.join(FACTS)}"
             f" FROM report_facts WHERE id = {report};"]
    for r in ROLLUPS:
        when = _changed(r.columns) if update else ""
        lines.append(upsert(r, report, sign, when, portable=portable))
    lines.append("DELETE FROM analytics_scratch;")
    return "\n".join("    " + line.replace("\n", "\n    ") for line in lines)


def triggers(*, portable: bool = False) -> str:
    """The rollup triggers, as generated (migration 009's; ``portable``: PostgreSQL's too)."""
    columns = tuple(dict.fromkeys(c for r in ROLLUPS for c in r.columns))
    of, when = ", ".join(columns), _changed(columns)
    return "\n\n".join((
        "CREATE TRIGGER analytics_report_added AFTER INSERT ON reports\nBEGIN\n"
        + _body("NEW.id", 1, portable=portable) + "\nEND;",
        "CREATE TRIGGER analytics_report_removed BEFORE DELETE ON reports\nBEGIN\n"
        + _body("OLD.id", -1, portable=portable) + "\nEND;",
        f"CREATE TRIGGER analytics_report_leaving BEFORE UPDATE OF {of} ON reports\n"
        f"WHEN {when}\nBEGIN\n" + _body("OLD.id", -1, update=True, portable=portable) + "\nEND;",
        f"CREATE TRIGGER analytics_report_arriving AFTER UPDATE OF {of} ON reports\n"
        f"WHEN {when}\nBEGIN\n" + _body("NEW.id", 1, update=True, portable=portable) + "\nEND;",
    ))


_HEAD = """-- Command-center analytics per municipality (generated by
-- `python -m ivr.store.analytics_schema`; see migration 004 for what each part does).
-- Every rollup gains the municipality as its first key, each report is grouped by its
-- own municipality's local clock (municipalities.utc_offset_minutes), and the rollups
-- are recounted from the reports, so a migrated database keeps the same totals. The
-- state handed_over (a report given to a neighbour) is counted too. analytics_clock
-- is left for databases that still read it; municipality 1's time zone is now kept in
-- municipalities."""


def migration() -> str:
    """Migration 009, whole."""
    names = ("analytics_report_added", "analytics_report_removed", "analytics_report_leaving",
             "analytics_report_arriving")
    drops = [f"DROP TRIGGER IF EXISTS {n};" for n in names]
    drops += ["DROP VIEW IF EXISTS report_facts;", "DROP TABLE IF EXISTS analytics_scratch;"]
    drops += [f"DROP TABLE IF EXISTS {r.table};" for r in ROLLUPS]
    parts = [_HEAD, "\n".join(drops), FACTS_VIEW_009, SCRATCH,
             *(create_table(r) for r in ROLLUPS),
             "-- Reports already in the database when this migration runs.",
             *(recount(r) + ";" for r in ROLLUPS), triggers()]
    return "\n\n".join(parts) + "\n"


if __name__ == "__main__":
    print(migration(), end="")
