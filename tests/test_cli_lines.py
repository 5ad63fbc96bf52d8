"""`alerta lines`: a line exported, edited as a file, imported, published and restored."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from ivr.domain.lines import LineConfig

ROOT = Path(__file__).resolve().parent.parent


def alerta(tmp_path: Path, *args: str, db: str = "db.sqlite3") -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "ALERTA_DATABASE": str(tmp_path / db),
           "ALERTA_VOICECLIPS": str(tmp_path / "clips"), "ALERTA_PROMPTS": str(ROOT / "prompts"),
           "ALERTA_LOG_LEVEL": "WARNING"}
    return subprocess.run([sys.executable, "-m", "ivr.cli", *args], env=env, cwd=tmp_path,
                          capture_output=True, text=True, timeout=120, check=False)


def test_export_edit_import_publish_and_restore(tmp_path: Path) -> None:
    listed = alerta(tmp_path, "lines", "list")
    assert listed.returncode == 0, listed.stderr
    assert ["report", "report", "v1", "1234"] in [
        row.split()[:4] for row in listed.stdout.splitlines()]  # lines listed by flow

    assert alerta(tmp_path, "lines", "export", "report", "-o", "report.json").returncode == 0
    doc = json.loads((tmp_path / "report.json").read_text(encoding="utf-8"))
    assert doc["line"]["slug"] == "report" and doc["default"] is True
    # Every audio the line plays travels with it.
    shas = {e["audio"] for by in doc["line"]["prompts"].values() for e in by.values()}
    assert shas == set(doc["audio"])

    # The edit an admin would make in a text editor: key 7 reports graffiti, with the
    # audio of "other" for now.
    line = doc["line"]
    line["types"].append({"id": "graffiti", "priority": 6, "labels": {"es": "Pintas"}})
    line["menus"][0]["options"].append({"key": "7", "action": "type", "target": "graffiti"})
    line["prompts"]["type_graffiti"] = line["prompts"]["type_other"]
    (tmp_path / "edited.json").write_text(json.dumps(doc), encoding="utf-8")
    imported = alerta(tmp_path, "lines", "import", "edited.json", "--publish")
    assert imported.returncode == 0, imported.stderr
    assert "published as version 2" in imported.stdout

    # A copy to another deployment: the same line, audio and all.
    other = alerta(tmp_path, "lines", "import", "edited.json", "--publish", db="other.sqlite3")
    assert other.returncode == 0, other.stderr
    again = alerta(tmp_path, "lines", "export", "report", "-o", "again.json", db="other.sqlite3")
    assert again.returncode == 0
    copied = json.loads((tmp_path / "again.json").read_text(encoding="utf-8"))["line"]
    assert copied == LineConfig.from_dict(line).to_dict()  # defaults filled in, nothing lost
    assert copied["types"][-1]["id"] == "graffiti"

    restored = alerta(tmp_path, "lines", "restore", "report", "1")
    assert restored.returncode == 0 and "as version 3" in restored.stdout
    history = alerta(tmp_path, "lines", "history", "report").stdout.splitlines()
    assert history[0].split()[:2] == ["v3", "live"]
    assert len(history) == 3 and history[0].endswith("restored version 1")


def test_an_incomplete_import_is_kept_as_a_draft_and_the_problems_are_listed(
    tmp_path: Path,
) -> None:
    assert alerta(tmp_path, "lines", "export", "report", "-o", "report.json").returncode == 0
    doc = json.loads((tmp_path / "report.json").read_text(encoding="utf-8"))
    doc["line"]["languages"].append("qu")
    (tmp_path / "qu.json").write_text(json.dumps(doc), encoding="utf-8")
    refused = alerta(tmp_path, "lines", "import", "qu.json", "--publish")
    assert refused.returncode == 1
    assert "prompt greeting has no audio in qu (needed by the report flow)" in refused.stderr
    problems = alerta(tmp_path, "lines", "problems", "report")
    assert problems.returncode == 1 and "digit_0 has no audio in qu" in problems.stdout
    assert "v1" in alerta(tmp_path, "lines", "list").stdout.split()  # still version 1 live


def test_bad_files_and_names_are_refused_clearly(tmp_path: Path) -> None:
    (tmp_path / "junk.json").write_text("{not json", encoding="utf-8")
    junk = alerta(tmp_path, "lines", "import", "junk.json")
    assert junk.returncode == 1 and "not JSON" in junk.stderr
    (tmp_path / "shape.json").write_text('{"line": {"slug": "Bad Slug"}}', encoding="utf-8")
    shape = alerta(tmp_path, "lines", "import", "shape.json")
    assert shape.returncode == 1 and "must be lower-case letters" in shape.stderr
    missing = alerta(tmp_path, "lines", "export", "nowhere")
    assert missing.returncode == 1 and "no line called 'nowhere'" in missing.stderr
