"""``alerta transcribe`` and ``alerta purge``: the clip commands of the ``alerta`` CLI."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from dataclasses import asdict
from pathlib import Path

from ivr.config import Settings


def add_parsers(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    one = sub.add_parser("transcribe", help="transcribe one recording (to check a model)")
    one.add_argument("file", type=Path, help="a recording: wav, WAV (wav49), gsm or sln")
    one.add_argument("--model", type=Path, help="Vosk model folder (default: vosk_model)")
    one.add_argument("--grammar", type=Path,
                     help="phrases, one a line, to limit recognition to (default: vosk_grammar)")
    one.add_argument("--json", action="store_true", help="print JSON with per-word confidence")

    purge = sub.add_parser("purge", help="remove the clips the retention rules allow")
    purge.add_argument("--dry-run", action="store_true", help="list what would go; remove nothing")
    purge.add_argument("--json", action="store_true", help="print JSON")


def _is_set(path: Path | None) -> bool:
    return path is not None and str(path) not in ("", ".")


async def transcribe(settings: Settings, args: argparse.Namespace) -> int:
    from ivr.clips import transcribe as vosk_side
    from ivr.clips.audio import AudioUnreadable

    model: Path = args.model if _is_set(args.model) else settings.vosk_model
    problem = vosk_side.check_model(model)
    if problem:
        print(f"alerta: {problem}; pass --model DIR", file=sys.stderr)
        return 2
    grammar_file = args.grammar if _is_set(args.grammar) else settings.vosk_grammar
    try:
        grammar = vosk_side.read_grammar(grammar_file) if _is_set(grammar_file) else ()
        result = await asyncio.to_thread(vosk_side.transcribe_file, args.file, model, grammar)
    except (OSError, AudioUnreadable, vosk_side.ModelMissing) as exc:
        print(f"alerta: {exc}", file=sys.stderr)
        return 1
    low = settings.transcript_low_confidence
    if args.json:
        out = asdict(result)
        # The same shape as ivr.store.clip_views.transcripts_of gives the console.
        out["words"] = [{"word": w.text, "conf": w.conf, "start": w.start, "end": w.end,
                         "low": w.low(low)} for w in result.words]
        out["confidence"] = result.confidence
        rtf = result.cpu_s / result.audio_s if result.audio_s else None
        out["real_time_factor"] = round(rtf, 3) if rtf is not None else None
        print(json.dumps(out, indent=2, ensure_ascii=False))
    else:
        print(vosk_side.marked_text(result, low))
        print(f"# {result.audio_s:.1f} s of audio at {result.fed_rate} Hz,"
              f" {result.cpu_s:.2f} s CPU, model {result.model};"
              f" [word?] = confidence under {low}", file=sys.stderr)
    return 0


async def purge(settings: Settings, args: argparse.Namespace) -> int:
    from ivr.app import services
    from ivr.clips.retention import purge as run_purge
    from ivr.store.reports import utc_now

    if not settings.retention:
        print("alerta: no [[retention]] rules are configured: nothing may be purged",
              file=sys.stderr)
        return 0
    async with services(settings, reconcile_clips=False) as svc:
        result = await run_purge(svc.db, settings.voiceclips, settings.retention, utc_now(),
                                 dry_run=args.dry_run)
    if args.json:
        print(json.dumps(asdict(result), indent=2, ensure_ascii=False))
    else:
        verb = "would remove" if args.dry_run else "removed"
        for entry in result.purged:
            print(f"{verb} report {entry['report']} clip {entry['path']} (rule {entry['rule']})")
        print(f"{len(result.purged)} clip(s) {verb}; {result.files_removed} file(s) deleted")
    for problem in result.file_errors:
        print(f"alerta: could not remove {problem}", file=sys.stderr)
    return 1 if result.file_errors else 0


HANDLERS = {"transcribe": transcribe, "purge": purge}
