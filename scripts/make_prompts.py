"""Build the prompt WAVs from prompts/catalogue.toml.

Each prompt is spoken by espeak-ng and shaped by sox into what Asterisk plays
without transcoding: 8 kHz, mono, 16-bit signed PCM, silence trimmed at both
ends and a little padding added back. Only prompts whose recipe changed are
rebuilt; prompts/.manifest.json remembers, per file, the hash of its recipe
(text, voice, speed, pipeline) and the hash of the WAV that came out.

    scripts/make-prompts            build what is missing or stale
    scripts/make-prompts --check    exit 1 when a WAV is missing, stale or edited
    scripts/make-prompts --force    rebuild everything

Standard library only, so it runs before the virtualenv exists.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import tomllib
from collections.abc import Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
PROMPTS = ROOT / "prompts"
CATALOGUE = PROMPTS / "catalogue.toml"
MANIFEST_NAME = ".manifest.json"

# Bump when the sox/espeak pipeline below changes, so every WAV is rebuilt.
PIPELINE_VERSION = 1
SAMPLE_RATE = 8000
TRIM_THRESHOLD = "0.1%"  # espeak-ng writes digital silence, so a low threshold is safe
SEGMENT_GAP_S = 0.35  # pause between the segments of a bilingual prompt
PAD_BEFORE_S = 0.08
PAD_AFTER_S = 0.15
PEAK_DBFS = -3  # normalised peak; leaves headroom for the telephone codec
PROMPT_ID = re.compile(r"[a-z][a-z0-9_]*")

# sox output format: what Asterisk's format_wav reads natively.
SOX_OUT = ["-r", str(SAMPLE_RATE), "-c", "1", "-b", "16", "-e", "signed-integer"]


class CatalogueError(ValueError):
    """The catalogue is not usable as written."""


@dataclass(frozen=True)
class Voice:
    language: str
    espeak: str
    speed: int
    pitch: int


@dataclass(frozen=True)
class Segment:
    voice: Voice
    text: str


@dataclass(frozen=True)
class Tone:
    hz: int
    seconds: float


@dataclass(frozen=True)
class Job:
    """One WAV to produce: prompts/<language>/<prompt_id>.wav."""

    prompt_id: str
    language: str
    parts: tuple[Segment, ...] | Tone

    @property
    def relpath(self) -> str:
        return f"{self.language}/{self.prompt_id}.wav"

    def recipe(self) -> str:
        if isinstance(self.parts, Tone):
            spec: Any = {"tone": [self.parts.hz, self.parts.seconds]}
        else:
            voices = [[s.voice.espeak, s.voice.speed, s.voice.pitch, s.text] for s in self.parts]
            spec = {"speech": voices}
        spec["pipeline"] = PIPELINE_VERSION
        blob = json.dumps(spec, sort_keys=True, ensure_ascii=False).encode("utf-8")
        return hashlib.sha256(blob).hexdigest()

    def describe(self) -> str:
        if isinstance(self.parts, Tone):
            return f"tone {self.parts.hz} Hz {self.parts.seconds} s"
        return " | ".join(s.text for s in self.parts)


@dataclass(frozen=True)
class Catalogue:
    languages: tuple[str, ...]
    prompts: dict[str, dict[str, Job]]  # prompt id → language → job

    def jobs(self) -> list[Job]:
        return [job for by_lang in self.prompts.values() for job in by_lang.values()]


def load_catalogue(path: Path = CATALOGUE) -> Catalogue:
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise CatalogueError(f"cannot read {path}: {exc}") from exc
    voices = _voices(data.get("voices"))
    languages = tuple(voices)
    raw_prompts = data.get("prompt")
    if not isinstance(raw_prompts, dict) or not raw_prompts:
        raise CatalogueError("the catalogue needs a [prompt] table")
    prompts: dict[str, dict[str, Job]] = {}
    for prompt_id, entry in raw_prompts.items():
        if not PROMPT_ID.fullmatch(prompt_id):
            raise CatalogueError(f"prompt id {prompt_id!r}: lower-case letters, digits and _")
        if not isinstance(entry, dict):
            raise CatalogueError(f"prompt {prompt_id}: expected a table")
        prompts[prompt_id] = _jobs_for(prompt_id, entry, voices)
    return Catalogue(languages, prompts)


def _voices(raw: Any) -> dict[str, Voice]:
    if not isinstance(raw, dict) or not raw:
        raise CatalogueError("the catalogue needs [voices.<language>] tables")
    out = {}
    for language, spec in raw.items():
        if not isinstance(spec, dict) or not isinstance(spec.get("espeak"), str):
            raise CatalogueError(f"voice {language}: needs espeak = \"<voice name>\"")
        out[language] = Voice(
            language, spec["espeak"], int(spec.get("speed", 150)), int(spec.get("pitch", 50))
        )
    return out


def _jobs_for(prompt_id: str, entry: dict[str, Any], voices: dict[str, Voice]) -> dict[str, Job]:
    kinds = [k for k in ("tone", "segments") if k in entry]
    if kinds and set(entry) - {kinds[0], "note"}:
        raise CatalogueError(f"prompt {prompt_id}: {kinds[0]} cannot be mixed with other keys")
    if "tone" in entry:
        tone = entry["tone"]
        parts: tuple[Segment, ...] | Tone = Tone(int(tone["hz"]), float(tone["seconds"]))
        return {lang: Job(prompt_id, lang, parts) for lang in voices}
    if "segments" in entry:
        # One file in several voices (the language choice), copied to every language.
        segments = []
        for seg in entry["segments"]:
            voice = voices.get(seg.get("voice", ""))
            if voice is None or not str(seg.get("text", "")).strip():
                raise CatalogueError(f"prompt {prompt_id}: a segment needs a known voice and text")
            segments.append(Segment(voice, str(seg["text"]).strip()))
        covered = {s.voice.language for s in segments}
        if covered != set(voices):
            raise CatalogueError(f"prompt {prompt_id}: segments must cover {sorted(voices)}")
        return {lang: Job(prompt_id, lang, tuple(segments)) for lang in voices}
    unknown = set(entry) - set(voices) - {"note"}
    if unknown:
        raise CatalogueError(f"prompt {prompt_id}: unknown keys {sorted(unknown)}")
    jobs = {}
    for lang, voice in voices.items():
        text = entry.get(lang)
        if not isinstance(text, str) or not text.strip():
            raise CatalogueError(f"prompt {prompt_id}: no {lang} text")
        jobs[lang] = Job(prompt_id, lang, (Segment(voice, text.strip()),))
    return jobs


# --- building -----------------------------------------------------------------------------


def _run(cmd: Sequence[str], stdin: str | None = None) -> None:
    result = subprocess.run(
        list(cmd), input=stdin.encode("utf-8") if stdin is not None else None,
        capture_output=True, check=False,
    )
    if result.returncode != 0:
        err = result.stderr.decode("utf-8", "replace").strip()
        raise RuntimeError(f"{cmd[0]} failed ({result.returncode}): {err}")


def build(job: Job, target: Path) -> None:
    """Write job's WAV to target atomically (temp file in the same folder, then rename)."""
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="prompt-") as tmp_dir:
        tmp = Path(tmp_dir)
        out = tmp / "out.wav"
        if isinstance(job.parts, Tone):
            seconds = job.parts.seconds
            _run(["sox", "-D", "-n", *SOX_OUT, str(out),
                  "synth", str(seconds), "sine", str(job.parts.hz),
                  "fade", "h", "0.005", str(seconds), "0.005", "gain", "-n", str(PEAK_DBFS)])
        else:
            pieces = []
            for index, segment in enumerate(job.parts):
                raw = tmp / f"raw{index}.wav"
                piece = tmp / f"seg{index}.wav"
                _run(["espeak-ng", "-b", "1", "-v", segment.voice.espeak,
                      "-s", str(segment.voice.speed), "-p", str(segment.voice.pitch),
                      "-w", str(raw)], stdin=segment.text)
                gap = ["pad", "0", str(SEGMENT_GAP_S)] if index < len(job.parts) - 1 else []
                _run(["sox", "-D", str(raw), *SOX_OUT, str(piece),
                      "silence", "1", "0.01", TRIM_THRESHOLD, "reverse",
                      "silence", "1", "0.01", TRIM_THRESHOLD, "reverse", *gap])
                pieces.append(str(piece))
            _run(["sox", "-D", *pieces, *SOX_OUT, str(out),
                  "gain", "-n", str(PEAK_DBFS), "pad", str(PAD_BEFORE_S), str(PAD_AFTER_S)])
        staged = target.with_name(f".{target.name}.tmp")
        shutil.copyfile(out, staged)
        os.replace(staged, target)


def sha256_file(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def read_manifest(prompts_dir: Path) -> dict[str, dict[str, str]]:
    path = prompts_dir / MANIFEST_NAME
    if not path.exists():
        return {}
    data = json.loads(path.read_text(encoding="utf-8"))
    files = data.get("files", {})
    return files if isinstance(files, dict) else {}


def write_manifest(prompts_dir: Path, files: dict[str, dict[str, str]]) -> None:
    path = prompts_dir / MANIFEST_NAME
    body = {"pipeline": PIPELINE_VERSION, "files": dict(sorted(files.items()))}
    staged = path.with_name(path.name + ".tmp")
    staged.write_text(json.dumps(body, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    os.replace(staged, path)


def wav_files(prompts_dir: Path, languages: Iterable[str]) -> set[str]:
    return {
        f"{lang}/{p.name}" for lang in languages for p in (prompts_dir / lang).glob("*.wav")
    }


# --- checking -----------------------------------------------------------------------------


def problems(catalogue: Catalogue, prompts_dir: Path) -> list[str]:
    """Everything that makes the WAVs disagree with the catalogue; empty when in step."""
    manifest = read_manifest(prompts_dir)
    found: list[str] = []
    wanted = {job.relpath: job for job in catalogue.jobs()}
    for relpath, job in sorted(wanted.items()):
        path = prompts_dir / relpath
        entry = manifest.get(relpath)
        if not path.exists():
            found.append(f"missing: {relpath}")
        elif entry is None or entry.get("recipe") != job.recipe():
            found.append(f"stale: {relpath} (catalogue changed)")
        elif entry.get("sha256") != sha256_file(path):
            found.append(f"edited: {relpath} (differs from the generated file)")
    for relpath in sorted(wav_files(prompts_dir, catalogue.languages) - set(wanted)):
        found.append(f"orphan: {relpath} (not in the catalogue)")
    return found


def stale_jobs(catalogue: Catalogue, prompts_dir: Path, force: bool) -> list[Job]:
    manifest = read_manifest(prompts_dir)
    out = []
    for job in catalogue.jobs():
        path = prompts_dir / job.relpath
        entry = manifest.get(job.relpath, {})
        fresh = (
            path.exists()
            and entry.get("recipe") == job.recipe()
            and entry.get("sha256") == sha256_file(path)
        )
        if force or not fresh:
            out.append(job)
    return out


def generate(catalogue: Catalogue, prompts_dir: Path, force: bool = False, jobs: int = 0) -> int:
    for tool in ("espeak-ng", "sox"):
        if shutil.which(tool) is None:
            raise SystemExit(f"make-prompts: {tool} is not installed (apt-get install {tool})")
    todo = stale_jobs(catalogue, prompts_dir, force)
    workers = jobs or min(8, os.cpu_count() or 1)
    with ThreadPoolExecutor(max_workers=workers) as pool:
        list(pool.map(lambda job: build(job, prompts_dir / job.relpath), todo))
    wanted = {job.relpath: job for job in catalogue.jobs()}
    old = read_manifest(prompts_dir)
    # Only remove orphans this script made; a hand-placed file is reported, not deleted.
    for relpath in sorted(wav_files(prompts_dir, catalogue.languages) - set(wanted)):
        if relpath in old:
            (prompts_dir / relpath).unlink()
            print(f"removed {relpath}")
        else:
            print(f"warning: {relpath} is not in the catalogue", file=sys.stderr)
    manifest = {
        relpath: {
            "recipe": job.recipe(),
            "sha256": sha256_file(prompts_dir / relpath),
            "text": job.describe(),
        }
        for relpath, job in wanted.items()
    }
    write_manifest(prompts_dir, manifest)
    for job in todo:
        print(f"built {job.relpath}: {job.describe()}")
    print(f"{len(todo)} built, {len(wanted) - len(todo)} unchanged")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="make-prompts", description=__doc__.split("\n\n")[0])
    parser.add_argument("--check", action="store_true", help="verify only; exit 1 if out of date")
    parser.add_argument("--force", action="store_true", help="rebuild every prompt")
    parser.add_argument("--jobs", type=int, default=0, help="parallel builds (default: CPUs to 8)")
    parser.add_argument("--catalogue", type=Path, default=CATALOGUE)
    parser.add_argument("--out", type=Path, default=PROMPTS, help="prompt folder (<lang>/<id>.wav)")
    args = parser.parse_args(argv)
    try:
        catalogue = load_catalogue(args.catalogue)
    except CatalogueError as exc:
        print(f"make-prompts: {exc}", file=sys.stderr)
        return 2
    if args.check:
        found = problems(catalogue, args.out)
        for line in found:
            print(line, file=sys.stderr)
        if found:
            print(f"{len(found)} problem(s); run scripts/make-prompts", file=sys.stderr)
            return 1
        print(f"prompts up to date ({len(catalogue.jobs())} files)")
        return 0
    return generate(catalogue, args.out, force=args.force, jobs=args.jobs)


if __name__ == "__main__":
    sys.exit(main())
