#!/usr/bin/env python3
"""Benchmark: tax lookups through ``TaxService`` and the file adapter, and the import.

A SQLite store in a temporary folder gets ``--accounts`` (100,000) tax accounts from a
CSV written here (nine in ten owing one or two debts), imported with ``alerta tax
import``'s code; then a second night's file replaces them. Printed:

1. the import: seconds for the first file and for the replacing one (which also deletes
   the replaced generation), and rows a second;
2. lookups a second, each a whole ``TaxService.lookup`` (the caller's and the ID's
   blocks read, the HMAC checked against the account read, the audit row written and
   the limits counted in one write transaction), one at a time and ``--concurrency``
   (50) at a time (calls in parallel share the writer's batches);
3. beside them, measured in the same run on the same store: the file adapter's read
   alone and a bare indexed SELECT of one account (the floor a lookup cannot beat).

    .venv/bin/python bench/tax.py [--accounts 100000] [--lookups 5000] [--concurrency 50]
"""

from __future__ import annotations

import argparse
import asyncio
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, date, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from ivr.core.ports import TaxQuery  # noqa: E402
from ivr.core.tax import TaxLimits, TaxService  # noqa: E402
from ivr.domain.taxids import ruc_check_digit  # noqa: E402
from ivr.store import engine as store_engine  # noqa: E402
from ivr.store.reports import utc_now  # noqa: E402
from ivr.store.tax import TaxImports, TaxStore  # noqa: E402
from ivr.tax.file_backend import FileBackend, SecretHasher  # noqa: E402
from ivr.tax.importer import import_file  # noqa: E402

KEY = {"ALERTA_TAX_KEY": "bench-key-" + "k" * 22}
TODAY = date(2026, 12, 4)
# Nobody is blocked: the bench measures the work of a lookup, not the limits' refusals.
OPEN = TaxLimits(10**9, 10**9, 10**9, 10**9, 10**9, 10**9)


def tax_id(n: int) -> str:
    if n % 3:
        return f"{10_000_000 + n:08d}"  # a DNI
    first10 = f"20{n:08d}"
    return first10 + str(ruc_check_digit(first10))


def secret(n: int) -> str:
    return f"{(n * 7919) % 1_000_000:06d}"


def write_file(path: Path, accounts: int, night: int) -> int:
    rows = 0
    with path.open("w", encoding="utf-8") as out:
        out.write("tax_id,secret,amount,due_on\n")
        for n in range(accounts):
            if n % 10 == 0:
                out.write(f"{tax_id(n)},{secret(n)},,\n")
                rows += 1
                continue
            for k in range(1 + n % 2):
                out.write(f"{tax_id(n)},{secret(n)},{(n * 37 + night) % 99999}.{k}5,"
                          f"2026-{1 + (n + k) % 12:02d}-28\n")
                rows += 1
    return rows


async def rate(count: int, concurrency: int, one: Callable[[int], Awaitable[object]]
               ) -> tuple[float, float]:
    """Operations a second, and the median latency in ms."""
    latencies: list[float] = []
    queue = iter(range(count))

    async def worker() -> None:
        for i in queue:
            started = time.perf_counter()
            await one(i)
            latencies.append(time.perf_counter() - started)

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    elapsed = time.perf_counter() - started
    return count / elapsed, statistics.median(latencies) * 1000


async def main(args: argparse.Namespace) -> None:
    with tempfile.TemporaryDirectory(prefix="alerta-tax-bench-") as folder:
        tmp = Path(folder)
        hasher = SecretHasher(KEY["ALERTA_TAX_KEY"].encode())
        async with store_engine.database(tmp / "alerta.sqlite3") as db:
            imports = TaxImports(db)
            for night in (1, 2):
                path = tmp / f"night{night}.csv"
                rows = write_file(path, args.accounts, night)
                started = time.perf_counter()
                result = await import_file(path, 1, imports, hasher, actor="bench",
                                           clock=utc_now)
                took = time.perf_counter() - started
                print(f"import night {night}: {result.accounts:,} accounts, {result.debts:,} "
                      f"debts ({rows:,} lines) in {took:.2f} s = {rows / took:,.0f} lines/s"
                      + (" (replacing night 1, its rows deleted)" if night == 2 else ""))
            store = TaxStore(db)
            backend = FileBackend(store, tmp / "unused.key", env=KEY)
            desk = TaxService(backend, store, OPEN, lambda: datetime.now(UTC))
            picks = random.Random(7)
            wanted = [picks.randrange(args.accounts) for _ in range(args.lookups)]

            def query(i: int) -> TaxQuery:
                n = wanted[i]
                right = i % 4 != 0  # one in four types a wrong code
                return TaxQuery(1, f"9{n:08d}", f"bench-{i}", "tax v1", tax_id(n),
                                secret(n) if right else "000000", TODAY)

            async def lookup(i: int) -> object:
                return await desk.lookup(query(i))

            async def adapter(i: int) -> object:
                n = wanted[i]
                return await backend.account(1, tax_id(n), secret(n))

            async def bare(i: int) -> object:
                return await db.fetchone(
                    "SELECT secret_hash FROM tax_accounts WHERE municipality_id = ?"
                    " AND tax_id = ? LIMIT 1", (1, tax_id(wanted[i])))

            print(f"{args.lookups:,} lookups of random accounts among {args.accounts:,}:")
            for name, one, width in (
                    ("TaxService.lookup, one at a time", lookup, 1),
                    (f"TaxService.lookup, {args.concurrency} at a time", lookup,
                     args.concurrency),
                    ("peer: the file adapter's read (no audit, no limits)", adapter, 1),
                    ("peer: a bare indexed SELECT of one account", bare, 1)):
                per_s, p50 = await rate(args.lookups, width, one)
                print(f"  {name:<56} {per_s:>9,.0f} /s   p50 {p50:.3f} ms")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--accounts", type=int, default=100_000)
    parser.add_argument("--lookups", type=int, default=5_000)
    parser.add_argument("--concurrency", type=int, default=50)
    asyncio.run(main(parser.parse_args()))
