"""`alerta municipalities` and the per-municipality options of `users`, `lines` and
`directory`, as a deployment's operator runs them."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from tests.test_cli_lines import ROOT, alerta


def test_add_list_edit_neighbours_and_roles(tmp_path: Path) -> None:
    assert alerta(tmp_path, "lines", "list").returncode == 0  # the first start seeds
    renamed = alerta(tmp_path, "municipalities", "edit", "municipalidad", "--code", "miraflores",
                     "--name", "Miraflores")
    assert renamed.returncode == 0, renamed.stderr
    added = alerta(tmp_path, "municipalities", "add", "san-isidro", "--name", "San Isidro",
                   "--report-number", "5552000", "--status-number", "5552001",
                   "--neighbour", "miraflores")
    assert added.returncode == 0, added.stderr
    assert "added municipality 2 san-isidro (San Isidro)" in added.stdout
    assert added.stderr == ""  # the greeting was spoken: nothing left to record by hand
    listed = alerta(tmp_path, "municipalities", "list").stdout
    assert "san-isidro" in listed and "neighbours=miraflores" in listed
    assert "san_isidro_report" in listed and "5552000" in listed
    assert "san_isidro_status" in listed and "5552001" in listed

    # An emptied jurisdiction id falls back to the code, as when the municipality was added.
    assert alerta(tmp_path, "municipalities", "edit", "san-isidro", "--jurisdiction", "pe-si"
                  ).returncode == 0
    assert "jurisdiction=pe-si" in alerta(tmp_path, "municipalities", "list").stdout
    assert alerta(tmp_path, "municipalities", "edit", "san-isidro", "--jurisdiction", ""
                  ).returncode == 0
    assert "jurisdiction=san-isidro" in alerta(tmp_path, "municipalities", "list").stdout

    # Refusals name the problem and change nothing.
    taken = alerta(tmp_path, "municipalities", "add", "san-isidro", "--name", "Otra")
    assert taken.returncode == 1 and "taken" in taken.stderr
    bad = alerta(tmp_path, "municipalities", "add", "Bad Code", "--name", "X")
    assert bad.returncode == 1 and "lowercase" in bad.stderr
    zone = alerta(tmp_path, "municipalities", "add", "x1", "--name", "X", "--timezone", "Mars/Base")
    assert zone.returncode == 1 and "time zone" in zone.stderr

    # Accounts: a role per municipality; an analyst of both.
    added_user = alerta(tmp_path, "users", "add", "bea", "--role", "operator", "--municipality",
                        "san-isidro", "--generate")
    assert added_user.returncode == 0, added_user.stderr
    alerta(tmp_path, "users", "add", "teo", "--role", "analyst", "--generate")
    granted = alerta(tmp_path, "users", "grant", "teo", "--municipality", "san-isidro",
                     "--role", "analyst")
    assert granted.returncode == 0, granted.stderr
    users = alerta(tmp_path, "users", "list").stdout
    assert "operator@san-isidro" in users
    assert "analyst@miraflores, analyst@san-isidro" in users

    # The directory and an imported line go where they are told.
    (tmp_path / "dir.csv").write_text("number,address,zone\n987654321,Av. Dos de Mayo 10,A\n",
                                      encoding="utf-8")
    imported = alerta(tmp_path, "directory", "import", "dir.csv", "--municipality", "san-isidro")
    assert imported.returncode == 0, imported.stderr
    zones = alerta(tmp_path, "zones", "import", str(ROOT / "ivr" / "data" /
                                                    "miraflores-zones.geojson"),
                   "--municipality", "san-isidro")
    assert zones.returncode == 0, zones.stderr
    listed_zones = alerta(tmp_path, "zones", "list", "--municipality", "san-isidro").stdout
    assert "imported" in listed_zones
    assert "sample" in alerta(tmp_path, "zones", "list").stdout  # Miraflores' untouched
    db = sqlite3.connect(tmp_path / "db.sqlite3")
    try:
        assert db.execute("SELECT municipality_id, number FROM directory").fetchall() \
            == [(2, "987654321")]
        events = db.execute("SELECT kind, municipality_id FROM events WHERE kind LIKE"
                            " 'municipality.%' ORDER BY id").fetchall()
        assert events == [("municipality.changed", 1), ("municipality.added", 2),
                          ("municipality.neighbour", 2), ("municipality.neighbour", 1),
                          ("municipality.changed", 2), ("municipality.changed", 2)]
    finally:
        db.close()
