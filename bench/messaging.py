#!/usr/bin/env python3
"""Benchmark: staff alerts through real Kannel while the gateway is away, and the send rate.

Starts Kannel (bearerbox, smsbox and Kannel's fakesmsc as the SMS centre) and a real
SMTP server on loopback, a store (SQLite by default), and the controller's messaging
(notifier, sender, Kannel's callbacks) with one supervisor on duty and a rule "an
emergency: text and mail the supervisor on duty". Then:

1. **Outage.** The gateway (bearerbox and smsbox) is stopped for ``--outage-s`` (120 by
   default); ``--alerts`` emergencies (50) are opened spread over the outage; the gateway
   is started again. Printed: alerts delivered at the SMS centre, how many arrived twice
   (must be 0) or never (must be 0), the most tries one message took, and how long after
   the gateway came back the last one arrived (backoff: 5 s doubling to 5 min).
2. **Rate.** ``--burst`` emergencies (500) at once with the gateway up: messages per
   second from the first report to the last text at the SMS centre, through the outbox;
   beside it the peer, the same number of texts posted straight to Kannel's sendsms
   (no store, no outbox), measured in the same run.

    .venv/bin/python bench/messaging.py [--outage-s 120] [--alerts 50] [--burst 500]
"""

from __future__ import annotations

import argparse
import asyncio
import re
import sys
import tempfile
import time
from collections import Counter
from datetime import timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from ivr.core.intake import ReportIntake  # noqa: E402
from ivr.core.messaging_ports import OutgoingSms  # noqa: E402
from ivr.core.ports import NewReport  # noqa: E402
from ivr.domain.roles import Role  # noqa: E402
from ivr.messaging.kannel import KannelGateway  # noqa: E402
from ivr.messaging.service import MessagingService  # noqa: E402
from ivr.messaging.settings import MessagingSection  # noqa: E402
from ivr.messaging.smtp import SmtpSection  # noqa: E402
from ivr.store import engine as store_engine  # noqa: E402
from ivr.store.alert_admin import AlertAdmin  # noqa: E402
from ivr.store.casework import Casework  # noqa: E402
from ivr.store.reports import Reports, utc_now  # noqa: E402
from ivr.store.users import Users  # noqa: E402
from ivr.testing.kannel import ThrowawayKannel  # noqa: E402
from ivr.testing.smtp import ThrowawaySmtp  # noqa: E402

PHONE = "987000001"


def delivered(kannel: ThrowawayKannel, numbers: set[int]) -> Counter[int]:
    seen: Counter[int] = Counter()
    for m in kannel.received():
        found = re.search(r"reporte (\d+)", m.text)
        if m.to == PHONE and found and int(found.group(1)) in numbers:
            seen[int(found.group(1))] += 1
    return seen


async def wait_for(kannel: ThrowawayKannel, numbers: set[int], limit_s: float) -> float:
    began = time.perf_counter()
    while len(delivered(kannel, numbers)) < len(numbers):
        if time.perf_counter() - began > limit_s:
            break
        await asyncio.sleep(0.1)
    return time.perf_counter() - began


async def run(args: argparse.Namespace) -> None:
    folder = Path(tempfile.mkdtemp(prefix="alerta-bench-messaging-"))
    with ThrowawayKannel.start() as kannel, ThrowawaySmtp() as smtp:
        db = await store_engine.database(args.database or folder / "alerta.sqlite3").open()
        reports = Reports(db)
        now = utc_now()
        user = await Users(db).add("sofia", Role.SUPERVISOR, "correct horse battery")
        admin = AlertAdmin(db)
        await admin.set_contact(1, user.id, phone=PHONE, email="sofia@muni.example",
                                quiet_from=None, quiet_until=None, actor="bench", now=now)
        await admin.add_shift(1, user.id, "supervisor", now - timedelta(hours=1),
                              now + timedelta(hours=8), 1, "bench", now)
        await admin.add_rule(1, "emergency", "on_duty:supervisor", sms=True, email=True,
                             after_s=0, actor="bench", now=now)
        mail = SmtpSection(host=smtp.host, port=smtp.port, sender="alertas@muni.example")
        section = MessagingSection(port=kannel.callback_port, sms=kannel.section(), mail=mail)
        intake = ReportIntake(Casework(db), lambda m: asyncio.sleep(0, []), lambda z: True)
        service = await MessagingService(db, section, owner="bench", intake=intake,
                                         keys=lambda m: asyncio.sleep(0, {}), deadlines={},
                                         clock=utc_now).start()
        try:
            # 1. the outage
            print(f"outage: gateway stopped for {args.outage_s:g} s while {args.alerts}"
                  " emergencies are opened", flush=True)
            kannel.stop_gateway()
            stopped = time.perf_counter()
            numbers: set[int] = set()
            for i in range(args.alerts):
                numbers.add(await reports.open_report(NewReport(
                    "emergency", 1, True, "es", f"out{i}", None, None)))
                await asyncio.sleep(args.outage_s * 0.9 / args.alerts)
            await asyncio.sleep(max(0.0, args.outage_s - (time.perf_counter() - stopped)))
            kannel.start_gateway()
            after = await wait_for(kannel, numbers, 900)
            await asyncio.sleep(3)  # a message sent twice would arrive by now
            seen = delivered(kannel, numbers)
            row = await db.fetchone("SELECT max(attempts) AS n FROM outbox WHERE channel = 'sms'")
            print(f"  delivered {len(seen)} of {len(numbers)}; twice or more:"
                  f" {sum(1 for n in seen.values() if n > 1)}; never:"
                  f" {len(numbers) - len(seen)}")
            print(f"  most tries for one message: {row['n'] if row else '?'}; last one"
                  f" arrived {after:.1f} s after the gateway came back")
            # 2. the rate, with the peer
            burst: set[int] = set()
            began = time.perf_counter()
            for i in range(args.burst):
                burst.add(await reports.open_report(NewReport(
                    "emergency", 1, True, "es", f"b{i}", None, None)))
            took = await wait_for(kannel, burst, 900) + 0.0
            total = time.perf_counter() - began
            print(f"rate: {args.burst} alerts, report to text at the SMS centre:"
                  f" {args.burst / total:.1f} texts/s ({total:.1f} s; {took:.1f} s after"
                  " the last report)")
            gateway = KannelGateway(kannel.section())
            try:
                began = time.perf_counter()
                base = len(kannel.received())
                sem = asyncio.Semaphore(20)

                async def one(i: int) -> None:
                    async with sem:
                        await gateway.send(OutgoingSms(10_000_000 + i, "987000777",
                                                       f"peer {i}"))
                await asyncio.gather(*(one(i) for i in range(args.burst)))
                await kannel.wait_received_async(base + args.burst, timeout_s=900)
                peer = time.perf_counter() - began
            finally:
                await gateway.close()
            print(f"peer: {args.burst} texts posted straight to Kannel's sendsms, 20 at a"
                  f" time: {args.burst / peer:.1f} texts/s ({peer:.1f} s)")
        finally:
            await service.stop()
            await db.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--outage-s", type=float, default=120.0)
    parser.add_argument("--alerts", type=int, default=50)
    parser.add_argument("--burst", type=int, default=500)
    parser.add_argument("--database", default=None, help="postgresql://… (default: SQLite)")
    asyncio.run(run(parser.parse_args()))


if __name__ == "__main__":
    main()
