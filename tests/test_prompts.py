"""The prompt WAVs agree with prompts/catalogue.toml and with what the flows play."""

from __future__ import annotations

import ast
import importlib
import importlib.util
import itertools
import shutil
import subprocess
import sys
import tomllib
import wave
from array import array
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import pytest

from ivr.domain.incidents import DEFAULT_INCIDENT_TYPES

ROOT = Path(__file__).resolve().parent.parent
PROMPTS = ROOT / "prompts"
CATALOGUE = PROMPTS / "catalogue.toml"
FLOWS = ROOT / "ivr" / "flows"
LANGUAGES = ("es", "en")
MIN_SECONDS = 0.2
MAX_SECONDS = 8.0
# Flow helpers whose positional arguments are prompt ids: name → how many (None: all).
PROMPT_TAKING_CALLS: dict[str, int | None] = {
    "say": None, "prompts": None, "prompt": 1, "menu": 1, "ask_number": 1,
}


def _load_make_prompts() -> ModuleType:
    spec = importlib.util.spec_from_file_location("make_prompts", ROOT / "scripts/make_prompts.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look the module up by name
    spec.loader.exec_module(module)
    return module


make_prompts = _load_make_prompts()
CATALOGUE_DATA = tomllib.loads(CATALOGUE.read_text(encoding="utf-8"))
PROMPT_IDS = sorted(CATALOGUE_DATA["prompt"])


def _read_wav(path: Path) -> tuple[wave._wave_params, array[int]]:
    with wave.open(str(path), "rb") as wav:
        params = wav.getparams()
        samples = array("h", wav.readframes(params.nframes))
    if sys.byteorder == "big":
        samples.byteswap()
    return params, samples


# --- the catalogue ------------------------------------------------------------------------


def test_catalogue_speaks_spanish_first_then_english() -> None:
    assert tuple(CATALOGUE_DATA["voices"]) == LANGUAGES
    assert CATALOGUE_DATA["voices"]["es"]["espeak"] in ("es-419", "es")
    assert CATALOGUE_DATA["voices"]["en"]["espeak"] in ("en-us", "en")


@pytest.mark.parametrize("prompt_id", PROMPT_IDS)
def test_every_prompt_has_both_languages(prompt_id: str) -> None:
    entry = CATALOGUE_DATA["prompt"][prompt_id]
    if "tone" in entry:
        return
    if "segments" in entry:
        assert [s["voice"] for s in entry["segments"]] == list(LANGUAGES)
        return
    assert list(k for k in entry if k != "note") == list(LANGUAGES), "es first, en second"
    assert all(entry[lang].strip() for lang in LANGUAGES)


def test_the_catalogue_loader_accepts_the_catalogue() -> None:
    catalogue = make_prompts.load_catalogue(CATALOGUE)
    assert catalogue.languages == LANGUAGES
    assert sorted(catalogue.prompts) == PROMPT_IDS


@pytest.mark.parametrize(
    ("body", "complaint"),
    [
        ('[prompt.greeting]\nes = "Hola"\n', "no en text"),
        ('[prompt.greeting]\nes = "Hola"\nen = "Hi"\nfr = "Salut"\n', "unknown keys"),
        ('[prompt.Greeting]\nes = "Hola"\nen = "Hi"\n', "lower-case"),
        ('[prompt.choice]\nsegments = [{ voice = "es", text = "Uno" }]\n', "must cover"),
    ],
)
def test_the_catalogue_loader_refuses_an_incomplete_entry(
    tmp_path: Path, body: str, complaint: str
) -> None:
    voices = '[voices.es]\nespeak = "es-419"\n[voices.en]\nespeak = "en-us"\n'
    path = tmp_path / "catalogue.toml"
    path.write_text(voices + body, encoding="utf-8")
    with pytest.raises(make_prompts.CatalogueError, match=complaint):
        make_prompts.load_catalogue(path)


# --- the WAVs -----------------------------------------------------------------------------


def _all_wavs() -> Iterator[tuple[str, str]]:
    for prompt_id in PROMPT_IDS:
        for lang in LANGUAGES:
            yield prompt_id, lang


@pytest.mark.parametrize(("prompt_id", "lang"), list(_all_wavs()))
def test_every_prompt_is_an_8khz_mono_16bit_wav_of_sensible_length(
    prompt_id: str, lang: str
) -> None:
    path = PROMPTS / lang / f"{prompt_id}.wav"
    assert path.is_file(), f"{path} is missing: run scripts/make-prompts"
    params, samples = _read_wav(path)
    assert (params.framerate, params.nchannels, params.sampwidth) == (8000, 1, 2)
    assert params.comptype == "NONE"
    seconds = params.nframes / params.framerate
    assert MIN_SECONDS <= seconds <= MAX_SECONDS, f"{path}: {seconds:.2f} s"
    assert max(abs(s) for s in samples) > 3000, f"{path} is (nearly) silent"


def test_the_beep_is_a_quarter_second_tone() -> None:
    params, samples = _read_wav(PROMPTS / "es" / "beep.wav")
    assert params.nframes == 2000  # 0.25 s at 8 kHz
    # A 1 kHz sine at 8 kHz crosses zero twice per 8 samples: about 500 crossings.
    crossings = sum(1 for a, b in itertools.pairwise(samples) if (a < 0) != (b < 0))
    assert 480 <= crossings <= 520


def test_no_wav_is_left_over_from_a_removed_prompt() -> None:
    for lang in LANGUAGES:
        extra = {p.stem for p in (PROMPTS / lang).glob("*.wav")} - set(PROMPT_IDS)
        assert not extra, f"prompts/{lang}: {sorted(extra)} are not in the catalogue"


def test_make_prompts_check_passes() -> None:
    result = subprocess.run(
        [str(ROOT / "scripts" / "make-prompts"), "--check"],
        capture_output=True, text=True, check=False, timeout=120,
    )
    assert result.returncode == 0, result.stderr


def test_make_prompts_check_finds_a_changed_text_and_a_missing_file(tmp_path: Path) -> None:
    out = tmp_path / "prompts"
    shutil.copytree(PROMPTS, out, ignore=shutil.ignore_patterns("catalogue.toml"))
    catalogue = tmp_path / "catalogue.toml"
    text = CATALOGUE.read_text(encoding="utf-8")
    changed = text.replace('es = "Gracias por llamar. Adiós."', 'es = "Hasta luego."')
    assert changed != text
    catalogue.write_text(changed, encoding="utf-8")
    (out / "en" / "digit_7.wav").unlink()
    found = make_prompts.problems(make_prompts.load_catalogue(catalogue), out)
    assert "stale: es/goodbye.wav (catalogue changed)" in found
    assert "missing: en/digit_7.wav" in found
    assert make_prompts.main(["--check", "--catalogue", str(catalogue), "--out", str(out)]) == 1


def test_make_prompts_check_finds_a_hand_edited_wav(tmp_path: Path) -> None:
    out = tmp_path / "prompts"
    shutil.copytree(PROMPTS, out)
    with (out / "es" / "greeting.wav").open("ab") as wav:
        wav.write(b"\0\0")
    found = make_prompts.problems(make_prompts.load_catalogue(CATALOGUE), out)
    assert found == ["edited: es/greeting.wav (differs from the generated file)"]


# --- what the flows play ------------------------------------------------------------------


def test_keypad_and_incident_type_prompts_exist() -> None:
    """The menu is built from pieces: [type_<id>, press, digit_<key>] per incident type."""
    needed = {f"digit_{d}" for d in "0123456789"} | {"digit_star", "digit_hash"}
    needed |= {f"type_{t.id}" for t in DEFAULT_INCIDENT_TYPES}
    needed |= {"menu_intro", "press", "option_status", "option_operator"}
    needed |= {f"number_{n}" for n in range(61)}
    needed |= {f"unit_{u}" for u in ("minute", "minutes", "hour", "hours", "day", "days")}
    needed |= {f"status_{s}" for s in ("received", "in_process", "resolved")}
    assert needed <= set(PROMPT_IDS), sorted(needed - set(PROMPT_IDS))


def _string_ids(node: ast.expr) -> Iterator[str]:
    """Literal prompt ids in a call argument; f-strings are covered by the test above."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        yield node.value
    elif isinstance(node, ast.List | ast.Tuple | ast.Set):
        for element in node.elts:
            yield from _string_ids(element)
    elif isinstance(node, ast.IfExp):
        yield from _string_ids(node.body)
        yield from _string_ids(node.orelse)
    elif isinstance(node, ast.Starred):
        yield from _string_ids(node.value)


def _ids_in_flow_source() -> dict[str, str]:
    found: dict[str, str] = {}
    for path in sorted(FLOWS.glob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if not isinstance(node, ast.Call):
                continue
            func = node.func
            name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
            if name not in PROMPT_TAKING_CALLS:
                continue
            for arg in node.args[: PROMPT_TAKING_CALLS[name]]:
                for prompt_id in _string_ids(arg):
                    found.setdefault(prompt_id, f"{path.name}:{node.lineno}")
    return found


def _ids_declared_by_flows() -> set[str]:
    """A PROMPT_IDS-like constant in ivr.flows, if the flows declare one."""
    declared: set[str] = set()
    for path in sorted(FLOWS.glob("*.py")):
        module = importlib.import_module(f"ivr.flows.{path.stem}")
        for name in ("PROMPT_IDS", "PROMPTS", "ALL_PROMPTS"):
            value = getattr(module, name, None)
            if isinstance(value, list | tuple | set | frozenset):
                declared |= {str(v) for v in value}
    return declared


def test_every_prompt_id_the_flows_name_exists() -> None:
    used = _ids_in_flow_source()
    missing = {pid: where for pid, where in used.items() if pid not in PROMPT_IDS}
    assert not missing, f"prompts the flows play but the catalogue lacks: {missing}"
    undeclared = _ids_declared_by_flows() - set(PROMPT_IDS)
    assert not undeclared, f"declared by ivr.flows but not in the catalogue: {sorted(undeclared)}"
