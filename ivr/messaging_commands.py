"""``alerta messaging``: set up and check the SMS gateway and the mail server.

    alerta messaging kannel-conf --smsc smsc.conf --spool /var/spool/kannel \\
        --out /etc/kannel/kannel.conf
    alerta messaging test --sms 987000001 --email guardia@miraflores.gob.pe

``kannel-conf`` writes the kannel.conf that matches the ``[sms]`` settings (the same
sendsms user, password and callback token, Kannel on loopback, queued texts kept on
disk across a restart); ``--smsc`` is the operator's ``group = smsc`` (SMPP), as the
operator gave it. The Kannel admin password comes from ``ALERTA_KANNEL_ADMIN_PASSWORD``.
``test`` sends one message straight through each channel named and says what the
gateway or server answered: the first thing to run after changing the settings.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from ivr.config import Settings


def add_parsers(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    cmd = sub.add_parser("messaging", help="the SMS gateway (Kannel) and the mail server")
    msub = cmd.add_subparsers(dest="messaging_command", required=True, metavar="ACTION")
    conf = msub.add_parser("kannel-conf", help="write the kannel.conf for the [sms] settings")
    conf.add_argument("--smsc", type=Path, required=True,
                      help="a file with the operator's 'group = smsc' (SMPP)")
    conf.add_argument("--spool", type=Path, required=True,
                      help="a folder for Kannel's queued texts and delivery reports")
    conf.add_argument("--out", type=Path, required=True, help="where to write kannel.conf")
    test = msub.add_parser("test", help="send one test message through each channel named")
    test.add_argument("--sms", metavar="NUMBER", help="a phone to text")
    test.add_argument("--email", metavar="ADDRESS", help="an address to mail")


async def messaging(settings: Settings, args: argparse.Namespace) -> int:
    section = settings.messaging
    if args.messaging_command == "kannel-conf":
        from ivr.messaging.kannel import render_kannel_conf

        if section.sms is None:
            print("alerta: no [sms] table in the settings", file=sys.stderr)
            return 1
        admin = os.environ.get("ALERTA_KANNEL_ADMIN_PASSWORD", "")
        if len(admin) < 12:
            print("alerta: set ALERTA_KANNEL_ADMIN_PASSWORD (12 characters or more)",
                  file=sys.stderr)
            return 1
        for sub in ("store", "dlr"):
            (args.spool / sub).mkdir(parents=True, exist_ok=True)
        try:
            text = render_kannel_conf(section.sms, admin_password=admin,
                                      smsc=args.smsc.read_text(encoding="utf-8"),
                                      store_dir=str(args.spool / "store"),
                                      dlr_dir=str(args.spool / "dlr"))
        except (OSError, ValueError) as exc:
            print(f"alerta: {exc}", file=sys.stderr)
            return 1
        args.out.touch(mode=0o600)
        args.out.chmod(0o600)  # it holds the passwords
        args.out.write_text(text, encoding="utf-8")
        print(f"wrote {args.out} (readable by its owner only)")
        return 0
    return await _test(settings, args)


async def _test(settings: Settings, args: argparse.Namespace) -> int:
    from ivr.core.messaging_ports import OutgoingMail, OutgoingSms
    from ivr.messaging.kannel import KannelGateway
    from ivr.messaging.smtp import SmtpMailer

    section = settings.messaging
    if not (args.sms or args.email):
        print("alerta: name --sms, --email or both", file=sys.stderr)
        return 1
    failed = 0
    if args.sms:
        if section.sms is None:
            print("sms: no [sms] table in the settings", file=sys.stderr)
            return 1
        gateway = KannelGateway(section.sms)
        try:
            result = await gateway.send(OutgoingSms(0, args.sms, "Alerta: mensaje de prueba."))
        finally:
            await gateway.close()
        print(f"sms: {result.outcome} {result.detail}".rstrip())
        failed += result.outcome != "sent"
    if args.email:
        if section.mail is None:
            print("email: no [mail] table in the settings", file=sys.stderr)
            return 1
        result = await SmtpMailer(section.mail).send(OutgoingMail(
            0, args.email, "Alerta: mensaje de prueba", "Mensaje de prueba de Alerta."))
        print(f"email: {result.outcome} {result.detail}".rstrip())
        failed += result.outcome != "sent"
    return 1 if failed else 0


HANDLERS = {"messaging": messaging}
