"""``alerta tax import``: the tax system's nightly file into the store.

The file is CSV, UTF-8, with a header naming at least ``tax_id,secret,amount,due_on``
(other columns, a name say, are ignored and never stored): one line per unpaid debt,
amounts in soles with a dot (``1234.50``), dates ISO (``2026-12-31``); an account that
owes nothing is one line with an empty amount and date. A line that cannot be used is
refused, logged with its number and why, and counted; the rest is imported.

The file is read as a stream (hashed on the way: its sha256 is kept with the import)
and loaded aside in short transactions; only then does one transaction make it the
data callers hear, so a crash or an error part-way leaves yesterday's data in place.
A file with no usable account at all is refused whole: an empty export would
otherwise wipe every account.
"""

from __future__ import annotations

import csv
import hashlib
import io
import logging
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import BinaryIO

from ivr.domain.taxids import parse_tax_id, valid_secret
from ivr.store.tax import TaxImports
from ivr.tax.file_backend import SecretHasher

logger = logging.getLogger(__name__)

COLUMNS = ("tax_id", "secret", "amount", "due_on")
CHUNK = 2000  # rows per transaction while loading
REFUSALS_KEPT = 1000  # refusals returned (all are logged and counted)
MAX_FIELD = 200
_AMOUNT = re.compile(r"\d{1,9}(?:\.\d{1,2})?")
_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")


class TaxFileError(Exception):
    """The file as a whole cannot be imported (no header, not UTF-8, no account)."""


@dataclass(frozen=True, slots=True)
class TaxRow:
    tax_id: str
    secret: str
    amount_cents: int | None  # None: the account owes nothing
    due_on: date | None

    def __repr__(self) -> str:
        return f"TaxRow({self.tax_id!r}, <secret>, {self.amount_cents}, {self.due_on})"


@dataclass
class ImportResult:
    import_id: int = 0
    accounts: int = 0
    debts: int = 0
    refused: int = 0
    sha256: str = ""
    refusals: list[str] = field(default_factory=list)  # "line N: why", the first ones


def cents(text: str) -> int | None:
    """Soles with a dot ("1234.50", "7", "0.5") as céntimos; None when not such an amount."""
    if not _AMOUNT.fullmatch(text):
        return None
    whole, _, fraction = text.partition(".")
    return int(whole) * 100 + int((fraction + "00")[:2])


def parse_row(values: dict[str, str]) -> TaxRow | str:
    """One line of the file, or why it is refused (never showing the code)."""
    typed = values["tax_id"].strip()
    tax_id = parse_tax_id(typed)
    if tax_id is None:
        if len(typed) == 11 and typed.isascii() and typed.isdigit():
            return "RUC with a wrong check digit (or kind)"
        return "tax_id is not a DNI (8 digits) or a RUC (11 digits)"
    secret = values["secret"].strip()
    if not valid_secret(secret):
        return "the bill's code must be 4 to 8 digits"
    amount, due = values["amount"].strip(), values["due_on"].strip()
    if not amount:
        if due:
            return "a due date without an amount"
        return TaxRow(tax_id.number, secret, None, None)
    if amount.startswith("-"):
        return "negative amount"
    amount_cents = cents(amount)
    if amount_cents is None:
        return f"amount {amount[:20]!r} is not soles with a dot (e.g. 1234.50)"
    if not _DATE.fullmatch(due):
        return f"due date {due[:20]!r} is not YYYY-MM-DD"
    try:
        due_on = date.fromisoformat(due)
    except ValueError:
        return f"due date {due!r} does not exist"
    return TaxRow(tax_id.number, secret, amount_cents, due_on)


class _Hashing(io.RawIOBase):
    """A binary stream that hashes what is read through it."""

    def __init__(self, raw: BinaryIO) -> None:
        self.raw = raw
        self.sha = hashlib.sha256()

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: memoryview) -> int:  # type: ignore[override]
        data = self.raw.read(len(buffer))
        buffer[:len(data)] = data
        self.sha.update(data)
        return len(data)


def rows(stream: io.TextIOBase) -> Iterator[tuple[int, TaxRow | str]]:
    """(line number, row or why refused) for each line after the header."""
    reader = csv.reader(stream)
    try:
        header = next(reader)
    except StopIteration:
        raise TaxFileError("the file is empty: a header line is needed") from None
    names = [h.strip().lower() for h in header]
    missing = [c for c in COLUMNS if c not in names]
    if missing:
        raise TaxFileError(f"the header lacks {', '.join(missing)} "
                           f"(it must name {','.join(COLUMNS)})")
    where = {c: names.index(c) for c in COLUMNS}
    for values in reader:
        if not values or values == [""]:
            continue
        if len(values) != len(names):
            yield reader.line_num, f"{len(values)} fields where the header has {len(names)}"
            continue
        if any(len(v) > MAX_FIELD for v in values):
            yield reader.line_num, "a field longer than 200 characters"
            continue
        yield reader.line_num, parse_row({c: values[i] for c, i in where.items()})


async def import_file(path: Path, municipality: int, imports: TaxImports, hasher: SecretHasher,
                      *, actor: str, clock: Callable[[], datetime]) -> ImportResult:
    """Load the file aside, then make it the data callers hear (see the module's doc)."""
    started = clock()
    import_id = await imports.begin(municipality, path.name, actor, started)
    result = ImportResult(import_id=import_id)
    try:
        with path.open("rb") as raw:
            hashing = _Hashing(raw)
            text = io.TextIOWrapper(io.BufferedReader(hashing, 1 << 16), encoding="utf-8-sig",
                                    newline="")
            await _load(text, municipality, imports, hasher, import_id, started, result)
            result.sha256 = hashing.sha.hexdigest()
        if result.accounts == 0:
            raise TaxFileError(f"no usable account in the file ({result.refused} line(s) "
                               "refused): the current data is kept")
        replaced = await imports.finish(import_id, municipality, sha256=result.sha256,
                                        accounts=result.accounts, debts=result.debts,
                                        refused=result.refused, at=clock())
    except UnicodeDecodeError as exc:
        await _abandon(imports, import_id)
        raise TaxFileError(f"the file is not UTF-8 ({exc.reason} at byte {exc.start} of a "
                           "block): the current data is kept") from None
    except BaseException:
        await _abandon(imports, import_id)
        raise
    for old in replaced:
        await imports.purge(old)
    logger.info("tax import %d (%s): %d account(s), %d debt(s), %d line(s) refused, "
                "sha256 %s", import_id, path.name, result.accounts, result.debts,
                result.refused, result.sha256)
    return result


async def _abandon(imports: TaxImports, import_id: int) -> None:
    try:
        await imports.fail(import_id)
        await imports.purge(import_id)
    except Exception:  # the next import drops what is left
        logger.exception("tax import %d: what was loaded could not be dropped", import_id)


async def _load(text: io.TextIOBase, municipality: int, imports: TaxImports,
                hasher: SecretHasher, import_id: int, at: datetime,
                result: ImportResult) -> None:
    seen: dict[str, str] = {}  # tax_id → its code's hash: one account, one code
    accounts: list[tuple[str, str]] = []
    debts: list[tuple[str, int, str]] = []

    def refuse(line: int, why: str) -> None:
        result.refused += 1
        logger.warning("tax import %d: line %d refused: %s", import_id, line, why)
        if len(result.refusals) < REFUSALS_KEPT:
            result.refusals.append(f"line {line}: {why}")

    for line, row in rows(text):
        if isinstance(row, str):
            refuse(line, row)
            continue
        digest = hasher.digest(municipality, row.tax_id, row.secret)
        known = seen.get(row.tax_id)
        if known is None:
            seen[row.tax_id] = digest
            accounts.append((row.tax_id, digest))
            result.accounts += 1
        elif known != digest:
            refuse(line, "the code differs from this ID's earlier line")
            continue
        if row.amount_cents and row.due_on is not None:
            debts.append((row.tax_id, row.amount_cents, row.due_on.isoformat()))
            result.debts += 1
        if len(accounts) + len(debts) >= CHUNK:
            await imports.load(import_id, municipality, at, accounts, debts)
            accounts, debts = [], []
    if accounts or debts:
        await imports.load(import_id, municipality, at, accounts, debts)
