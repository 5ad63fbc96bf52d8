"""``alerta tax``: the tax line's accounts.

    alerta tax import cuentas-2026-12-04.csv --municipality miraflores

``import`` loads the tax system's nightly file (docs/tax.md: the columns, the refusals,
a cron or systemd timer to run it): each refused line is printed with its number and
why; the accounts callers hear change only once the whole file is loaded. It exits
0 when every line was taken, 1 when some were refused, 2 when nothing was imported.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ivr.config import Settings
from ivr.line_commands import _actor


def add_parsers(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    cmd = sub.add_parser("tax", help="the tax line's accounts (the tax system's file)")
    tsub = cmd.add_subparsers(dest="tax_command", required=True, metavar="ACTION")
    imp = tsub.add_parser("import", help="replace a municipality's tax accounts with a CSV"
                                         " file (tax_id,secret,amount,due_on)")
    imp.add_argument("file", type=Path)
    imp.add_argument("--municipality", default="", metavar="CODE",
                     help="its code or number (default: the first municipality)")


async def tax(settings: Settings, args: argparse.Namespace) -> int:
    from ivr.app import services
    from ivr.store.municipalities import Municipalities
    from ivr.store.reports import utc_now
    from ivr.store.tax import TaxImports
    from ivr.tax.file_backend import SecretHasher, ensure_key
    from ivr.tax.importer import TaxFileError, import_file

    if not args.file.is_file():
        print(f"alerta: {args.file}: no such file", file=sys.stderr)
        return 2
    async with services(settings, reconcile_clips=False) as svc:
        towns = Municipalities(svc.db)
        wanted = args.municipality
        town = (await towns.get(int(wanted)) if wanted.isdigit()
                else await towns.by_code(wanted) if wanted else await towns.get(1))
        if town is None:
            print(f"alerta: no municipality {wanted!r}", file=sys.stderr)
            return 2
        try:
            hasher = SecretHasher(ensure_key(settings.tax_key_path))
        except (OSError, ValueError) as exc:
            print(f"alerta: tax key {settings.tax_key_path}: {exc}", file=sys.stderr)
            return 2
        try:
            result = await import_file(args.file, town.id, TaxImports(svc.db), hasher,
                                       actor=_actor(), clock=utc_now)
        except (TaxFileError, OSError) as exc:
            print(f"alerta: {args.file}: {exc}", file=sys.stderr)
            return 2
    for refusal in result.refusals:
        print(f"alerta: {args.file}: {refusal}", file=sys.stderr)
    if result.refused > len(result.refusals):
        print(f"alerta: {args.file}: … and {result.refused - len(result.refusals)} more "
              "(all are in the log)", file=sys.stderr)
    print(f"{town.code}: imported {result.accounts} account(s) with {result.debts} debt(s),"
          f" refused {result.refused} line(s); sha256 {result.sha256}")
    return 0 if not result.refused else 1


HANDLERS = {"tax": tax}
