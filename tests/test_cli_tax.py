"""`alerta tax import`: the tax system's nightly file, as an admin or a timer runs it."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

from tests.tax_util import dni, ruc, write_csv, wrong_ruc

ROOT = Path(__file__).resolve().parent.parent


def alerta(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ALERTA_TAX")}
    env.update({"ALERTA_DATABASE": str(tmp_path / "db.sqlite3"),
                "ALERTA_VOICECLIPS": str(tmp_path / "clips"),
                "ALERTA_PROMPTS": str(ROOT / "prompts"), "ALERTA_LOG_LEVEL": "WARNING"})
    return subprocess.run([sys.executable, "-m", "ivr.cli", *args], env=env, cwd=tmp_path,
                          capture_output=True, text=True, timeout=120, check=False)


def test_import_prints_refusals_makes_the_key_and_replaces_on_the_next_night(
        tmp_path: Path) -> None:
    first = write_csv(tmp_path / "cuentas.csv", [
        (ruc("2010000000"), "48291375", "1234.50", "2026-12-31"),
        (wrong_ruc("2010000001"), "1234", "10.00", "2026-12-31"),
        (dni(12345678), "1111", "", ""),
        (dni(22222222), "2222", "-3.00", "2026-12-31"),
    ])
    done = alerta(tmp_path, "tax", "import", str(first))
    assert done.returncode == 1, done.stderr  # some lines refused
    assert "line 3: RUC with a wrong check digit" in done.stderr
    assert "line 5: negative amount" in done.stderr
    assert "imported 2 account(s) with 1 debt(s), refused 2 line(s)" in done.stdout
    assert "48291375" not in done.stdout + done.stderr
    key = tmp_path / "tax.key"  # beside the database, owner only
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
    made = key.read_text()

    clean = write_csv(tmp_path / "manana.csv", [(dni(12345678), "1111", "", "")])
    again = alerta(tmp_path, "tax", "import", str(clean), "--municipality", "municipalidad")
    assert again.returncode == 0, again.stderr
    assert "municipalidad: imported 1 account(s) with 0 debt(s), refused 0" in again.stdout
    assert key.read_text() == made  # the same key the next night


def test_a_file_that_cannot_be_imported_exits_2(tmp_path: Path) -> None:
    bad = write_csv(tmp_path / "mal.csv", [], header="dni;clave")
    done = alerta(tmp_path, "tax", "import", str(bad))
    assert done.returncode == 2 and "header lacks" in done.stderr
    assert alerta(tmp_path, "tax", "import", "nada.csv").returncode == 2
    nowhere = alerta(tmp_path, "tax", "import", str(bad), "--municipality", "lince")
    assert nowhere.returncode == 2 and "no municipality 'lince'" in nowhere.stderr
