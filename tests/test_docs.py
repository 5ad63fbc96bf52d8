"""Docs are tested: an undocumented setting or command fails the suite."""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

from ivr.cli import _parser
from ivr.config import SCALARS, TABLES, Settings

README = (Path(__file__).resolve().parent.parent / "README.md").read_text(encoding="utf-8")


def test_every_setting_is_in_the_readme_with_its_default() -> None:
    for name, (_kind, default, _doc) in SCALARS.items():
        row = re.search(rf"^\| `{name}` \| `([^`]*)` \|", README, re.MULTILINE)
        assert row, f"setting {name} is missing from the README's settings table"
        if str(default) not in ("", "."):
            assert row.group(1) == str(default), f"README default of {name} is stale"


def test_scalars_and_settings_agree() -> None:
    defaults = Settings()
    for name, (_kind, default, _doc) in SCALARS.items():
        assert getattr(defaults, name) == default, name
    plain = {f.name for f in dataclasses.fields(Settings)} - {"keypad", "zones", *TABLES}
    assert plain == set(SCALARS)


def test_every_command_is_in_the_readme() -> None:
    parser = _parser()
    sub = next(a for a in parser._actions if a.dest == "command")
    for command in sub.choices:  # type: ignore[union-attr]
        assert f"`alerta {command}" in README, f"command {command} is not documented"
