"""The store's SQL, written once for SQLite, as PostgreSQL runs it.

The store modules and the migrations are written in SQLite's dialect: that is
the embedded default, and the one source of truth for the schema. PostgreSQL
runs the same text after the mechanical rewrites below, so a query or a
migration cannot exist for one engine and not the other. What SQLite has and
PostgreSQL lacks by name (``julianday``, ``datetime``, ``strftime``, ``total``,
FTS5's ``MATCH``) is supplied by the functions in ``pg_compat.sql``.

Only what the store uses is rewritten; the test suite runs every store test on
both engines, which is what keeps this list complete.
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Any

# Strings and quoted names pass through untouched; only the code between them is rewritten.
_PIECES = re.compile(r"('(?:[^']|'')*'|\"(?:[^\"]|\"\")*\")")

_CODE_RULES: tuple[tuple[re.Pattern[str], str], ...] = tuple(
    (re.compile(pattern, re.IGNORECASE), repl) for pattern, repl in (
        (r"\bIS\s+NOT\s+(?!NULL\b|DISTINCT\b|TRUE\b|FALSE\b)", "IS DISTINCT FROM "),
        (r"\bIS\s+(?!NOT\b|NULL\b|DISTINCT\b|TRUE\b|FALSE\b)", "IS NOT DISTINCT FROM "),
        (r"\bLIMIT\s+-1\b", "LIMIT ALL"),
        (r"\bNOT\s+INDEXED\b", ""),
        (r"\bINDEXED\s+BY\s+\w+", ""),
        (r"(?<!I)\bLIKE\b", "ILIKE"),
        (r"\bjson_object\s*\(", "json_build_object("),
        (r"\b(julianday|datetime|strftime|date|json_extract|total)\s*\(", r"sqlite_\1("),
        (r"\binstr\s*\(", "sqlite_instr("),
        (r"\bifnull\s*\(", "coalesce("),
        (r"\bgroup_concat\s*\(", "string_agg("),
        (r"(\w+)\s+MATCH\s+\?", r"\1.tsv @@ sqlite_fts5_query(?)"),
        (r"\bAS\s+REAL\s*\)", "AS DOUBLE PRECISION)"),
        # SQLite's unary + (keeps the planner off an index) means nothing to PostgreSQL
        (r"(\b(?:AND|OR|WHERE|NOT|ON)\s+|[(,]\s*)\+(?=[A-Za-z_])", r"\1"),
    )
)
_INSERT_OR_IGNORE = re.compile(r"\bINSERT\s+OR\s+IGNORE\s+INTO\b", re.IGNORECASE)
_INSERT_INTO = re.compile(r"\bINSERT\s+INTO\s+(\w+)", re.IGNORECASE)
_RETURNING = re.compile(r"\bRETURNING\b", re.IGNORECASE)
_NUMBERED = re.compile(r"\?(\d+)")
_DO_UPDATE = re.compile(r"\bDO\s+UPDATE\s+SET\b", re.IGNORECASE)
_SELF_PLUS = re.compile(r"\b(\w+)\s*=\s*\1\s*([-+])")


def _split(sql: str) -> list[str]:
    """Code and quoted pieces, alternately (even indexes are code); comments dropped."""
    return _PIECES.split(_uncommented(sql))


def _uncommented(sql: str) -> str:
    """The SQL without its ``--`` comments (an apostrophe in one is not a quote)."""
    if "--" not in sql:
        return sql
    out, i, quote = [], 0, ""
    while i < len(sql):
        ch = sql[i]
        if quote:
            quote = "" if ch == quote else quote
        elif ch in "'\"":
            quote = ch
        elif sql.startswith("--", i):
            end = sql.find("\n", i)
            i = len(sql) if end < 0 else end
            continue
        out.append(ch)
        i += 1
    return "".join(out)


def _call_rewrite(sql: str, name: str, rewrite: Any) -> str:
    """Rewrite each call ``name(args)`` with ``rewrite(args) -> str | None`` (None: keep)."""
    pattern = re.compile(rf"\b{name}\s*\(", re.IGNORECASE)
    out, pos = [], 0
    while True:
        m = pattern.search(sql, pos)
        if m is None:
            out.append(sql[pos:])
            return "".join(out)
        args, end = _arguments(sql, m.end())
        new = rewrite(args)
        if new is None:
            out.append(sql[pos:m.end()])
            pos = m.end()
        else:
            out.append(sql[pos:m.start()] + new)
            pos = end


def _arguments(sql: str, start: int) -> tuple[list[str], int]:
    """The top-level, comma-separated arguments of a call opened just before ``start``."""
    depth, quote, args, piece = 0, "", [], start
    i = start
    while i < len(sql):
        ch = sql[i]
        if quote:
            if ch == quote:
                quote = ""
        elif ch in "'\"":
            quote = ch
        elif ch == "(":
            depth += 1
        elif ch == ")":
            if depth == 0:
                args.append(sql[piece:i])
                return args, i + 1
            depth -= 1
        elif ch == "," and depth == 0:
            args.append(sql[piece:i])
            piece = i + 1
        i += 1
    raise ValueError(f"unbalanced call in SQL: {sql[:80]!r}")


def _cast(args: list[str]) -> str | None:
    m = re.match(r"(?is)(.*)\s+AS\s+INTEGER\s*$", args[0]) if len(args) == 1 else None
    return f"sqlite_int({_functions(m.group(1))})" if m else None


def _scalar(name: str) -> Any:
    def rewrite(args: list[str]) -> str | None:
        if len(args) < 2:
            return None
        return f"{name}({', '.join(_functions(a).strip() for a in args)})"
    return rewrite


_FROM_SUBQUERY = re.compile(r"\b(FROM|JOIN)\s*\(\s*(?=SELECT\b)", re.IGNORECASE)
_ALIAS = re.compile(r"\s*(AS\s+)?(?!(WHERE|GROUP|ORDER|LIMIT|JOIN|LEFT|INNER|CROSS|ON|UNION|"
                    r"HAVING|WINDOW)\b)[A-Za-z_]\w*", re.IGNORECASE)


def _alias_subqueries(sql: str) -> str:
    """PostgreSQL 15 wants a name for every subquery in FROM; SQLite does not."""
    out, pos, n = [], 0, 0
    for m in _FROM_SUBQUERY.finditer(sql):
        if m.start() < pos:
            continue
        _args, end = _arguments(sql, m.end())
        if _ALIAS.match(sql, end):
            continue
        n += 1
        out.append(sql[pos:end] + f" AS _sub{n}")
        pos = end
    out.append(sql[pos:])
    return "".join(out)


def _functions(sql: str) -> str:
    sql = _call_rewrite(sql, "CAST", _cast)
    sql = _call_rewrite(sql, "max", _scalar("greatest"))
    return _call_rewrite(sql, "min", _scalar("least"))


@lru_cache(maxsize=4096)
def expression(sql: str) -> str:
    """SQLite text → PostgreSQL text, with ``?`` left as it is (views, triggers, DDL)."""
    pieces = _split(sql)
    for i in range(0, len(pieces), 2):
        code = pieces[i]
        for pattern, repl in _CODE_RULES:
            code = pattern.sub(repl, code)
        pieces[i] = code
    out = _alias_subqueries(_functions("".join(pieces)))
    ignore = _INSERT_OR_IGNORE.search(out)
    if ignore:
        out = out[:ignore.start()] + "INSERT INTO" + out[ignore.end():]
        body = out.rstrip().rstrip(";")
        ret = _RETURNING.search(body)
        if ret:
            out = body[:ret.start()] + "ON CONFLICT DO NOTHING " + body[ret.start():]
        else:
            out = body + " ON CONFLICT DO NOTHING"
    upd = _DO_UPDATE.search(out)
    target = _INSERT_INTO.search(out)
    if upd and target:
        head, tail = out[:upd.end()], out[upd.end():]
        out = head + _SELF_PLUS.sub(rf"\1 = {target.group(1)}.\1 \2", tail)
    return out


@lru_cache(maxsize=4096)
def statement(sql: str) -> tuple[str, bool]:
    """A statement with parameters → (PostgreSQL text, uses numbered parameters)."""
    out = expression(sql)
    pieces = _split(out)
    numbered = False
    for i in range(0, len(pieces), 2):
        code = pieces[i].replace("%", "%%")
        if _NUMBERED.search(code):
            numbered = True
            code = _NUMBERED.sub(r"%(p\1)s", code)
        pieces[i] = code.replace("?", "%s")
    for i in range(1, len(pieces), 2):
        pieces[i] = pieces[i].replace("%", "%%")
    return "".join(pieces), numbered


def parameters(params: Any, numbered: bool) -> Any:
    if not numbered:
        return tuple(params)
    return {f"p{n}": value for n, value in enumerate(params, start=1)}


# --- DDL ----------------------------------------------------------------------------------

_TYPES = (
    (re.compile(r"\bINTEGER\s+PRIMARY\s+KEY(\s+AUTOINCREMENT)?", re.I),
     "BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY"),
    (re.compile(r"\bINTEGER\b", re.I), "BIGINT"),
    (re.compile(r"\bREAL\b", re.I), "DOUBLE PRECISION"),
    (re.compile(r"\bBLOB\b", re.I), "BYTEA"),
    (re.compile(r"\)\s*WITHOUT\s+ROWID", re.I), ")"),
    (re.compile(r"\bCOLLATE\s+NOCASE\b", re.I), 'COLLATE "nocase"'),
)
_TRIGGER = re.compile(
    r"(?is)^\s*CREATE\s+TRIGGER\s+(?:IF\s+NOT\s+EXISTS\s+)?(\w+)\s+(BEFORE|AFTER)\s+"
    r"(INSERT|DELETE|UPDATE(?:\s+OF\s+[\w\s,]+?)?)\s+ON\s+(\w+)\s*"
    r"(?:FOR\s+EACH\s+ROW\s+)?(?:WHEN\s+(.*?)\s*)?\bBEGIN\b(.*)\bEND\s*;?\s*$")
_RAISE = re.compile(r"(?is)SELECT\s+RAISE\s*\(\s*ABORT\s*,\s*('(?:[^']|'')*')\s*\)\s*;")
_FTS = re.compile(r"(?is)^\s*CREATE\s+VIRTUAL\s+TABLE\s+(\w+)\s+USING\s+fts5\s*\((.*)\)\s*;?\s*$")


def table(sql: str) -> str:
    """CREATE TABLE / ALTER TABLE … ADD COLUMN in SQLite's words → PostgreSQL's."""
    pieces = _split(sql)
    for i in range(0, len(pieces), 2):
        for pattern, repl in _TYPES:
            pieces[i] = pattern.sub(repl, pieces[i])
    return expression("".join(pieces))


def fts_table(sql: str) -> list[str]:
    """An FTS5 table → a table with a generated tsvector, its GIN index and a rowid."""
    m = _FTS.match(sql)
    assert m, sql
    name, columns = m.group(1), []
    for raw in m.group(2).split(","):
        col = raw.split()[0]
        if "=" in raw:  # tokenize = …: accents are folded by sqlite_fold below
            continue
        columns.append(f"{col} {'BIGINT' if col.endswith('_id') else 'TEXT'}")
    first = columns[0].split()[0]
    return [
        f"CREATE TABLE {name} (rowid BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY, "
        + ", ".join(columns)
        + f", tsv tsvector GENERATED ALWAYS AS (to_tsvector('simple', sqlite_fold({first})))"
        " STORED)",
        f"CREATE INDEX {name}_tsv ON {name} USING gin (tsv)",
    ]


def trigger(sql: str) -> list[str]:
    """A SQLite trigger → a PL/pgSQL function and the row trigger that runs it."""
    m = _TRIGGER.match(sql)
    if m is None:
        raise ValueError(f"trigger not understood: {sql[:120]!r}")
    name, when, event, on, cond, body = m.groups()
    event = re.sub(r"\s+", " ", event.strip())
    body = "\n".join(
        _RAISE.sub(r"RAISE EXCEPTION \1 USING ERRCODE = '23000';", s + ";") if _RAISE.match(s + ";")
        else expression(s) + ";" for s in _statements(body))
    if cond:
        body = f"IF {expression(cond)} THEN\n{body}\nEND IF;"
    if when.upper() == "AFTER":
        result = "NULL"
    else:
        result = "OLD" if event.upper() == "DELETE" else "NEW"
    return [
        f"CREATE OR REPLACE FUNCTION {name}_fn() RETURNS trigger LANGUAGE plpgsql AS $fn$\n"
        f"BEGIN\n{body}\nRETURN {result};\nEND\n$fn$",
        f"CREATE TRIGGER {name} {when.upper()} {event} ON {on}"
        f" FOR EACH ROW EXECUTE FUNCTION {name}_fn()",
    ]


def _statements(body: str) -> list[str]:
    """A trigger body → its statements (split at semicolons outside strings and parentheses)."""
    out, depth, quote, start = [], 0, "", 0
    for i, ch in enumerate(body):
        if quote:
            quote = "" if ch == quote else quote
        elif ch in "'\"":
            quote = ch
        elif ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
        elif ch == ";" and depth == 0:
            out.append(body[start:i].strip())
            start = i + 1
    out.append(body[start:].strip())
    return [s for s in out if s]


def schema_object(kind: str, sql: str) -> list[str]:
    """One object of SQLite's schema (a ``sqlite_master`` row) → PostgreSQL statements."""
    if kind == "table":
        if _FTS.match(sql):
            return fts_table(sql)
        return [table(sql)]
    if kind == "trigger":
        return trigger(sql)
    return [expression(sql)]  # index, view
