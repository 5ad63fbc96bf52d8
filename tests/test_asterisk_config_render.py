"""`alerta asterisk config`: the repository's Asterisk files with this deployment's values.

The harness of the end-to-end tests uses the same function, so what a deployer
installs is what the tests run.
"""

from __future__ import annotations

import dataclasses
import shutil
import stat
from pathlib import Path

import pytest

from ivr.asterisk_config import SECRET_FILE, AsteriskConfigError, render, sources, write
from ivr.cli import main
from ivr.config import Settings

ROOT = Path(__file__).resolve().parent.parent
SECRET = "x" * 20 + "-test-only"


def deployment(**changes: object) -> Settings:
    return dataclasses.replace(Settings(), **{"ami_secret": SECRET, **changes})  # type: ignore[arg-type]


def test_defaults_render_the_repository_files_unchanged_plus_the_secret() -> None:
    files = render(deployment(prompts=Path("/var/lib/alerta/prompts")))
    for name, path in sources().items():
        assert files[name] == path.read_text(encoding="utf-8"), name
    assert files[SECRET_FILE].rstrip().endswith(f"secret = {SECRET}")


def test_ports_paths_and_numbers_come_from_the_settings() -> None:
    files = render(deployment(
        sip_bind="203.0.113.10:5080", rtp_start=30000, rtp_end=30999, ami_port=6038,
        agi_port=4999, report_line="5550100", status_line="5550101",
        public_number="5550199", prompts=Path("/srv/alerta/prompts"),
    ))
    assert "bind=203.0.113.10:5080" in files["pjsip.conf"]
    assert "contact_user=5550100" in files["pjsip.conf"]
    assert "rtpstart=30000" in files["rtp.conf"] and "rtpend=30999" in files["rtp.conf"]
    assert "port=6038" in files["manager.conf"]
    dialplan = files["extensions.conf"]
    assert "agi://127.0.0.1:4999/report" in dialplan and "agi://127.0.0.1:4999/status" in dialplan
    assert "agi://127.0.0.1:4573" not in dialplan
    assert "exten => 5550100,1," in dialplan and "exten => 5550101,1," in dialplan
    assert "Goto(5550100,1)" in dialplan and "exten => 1234," not in dialplan
    assert "ALERTA_PROMPTS=/srv/alerta/prompts\n" in dialplan
    assert "ALERTA_CALLER_ID=5550199\n" in dialplan


def test_no_secret_no_files(tmp_path: Path) -> None:
    with pytest.raises(AsteriskConfigError, match="ALERTA_AMI_SECRET"):
        write(Settings(), tmp_path / "out")
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("secret", ["short", "has space in it here", "semi;colon;is;a;comment"])
def test_a_secret_asterisk_would_misread_is_refused(secret: str) -> None:
    with pytest.raises(AsteriskConfigError):
        render(deployment(ami_secret=secret))


def test_a_file_that_lost_a_rewritten_line_fails_loudly(tmp_path: Path) -> None:
    shutil.copytree(ROOT / "asterisk_conf", tmp_path / "asterisk_conf")
    shutil.copytree(ROOT / "dialplans", tmp_path / "dialplans")
    rtp = tmp_path / "asterisk_conf" / "rtp.conf"
    rtp.write_text(rtp.read_text().replace("rtpstart=", "; rtpstart="))
    with pytest.raises(AsteriskConfigError, match="rtpstart"):
        render(deployment(), tmp_path)


def test_the_command_writes_private_files(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("ALERTA_AMI_SECRET", SECRET)
    monkeypatch.setenv("ALERTA_AMI_PORT", "6038")
    assert main(["asterisk", "config", "--into", str(tmp_path / "etc")]) == 0
    secret_file = tmp_path / "etc" / SECRET_FILE
    assert SECRET in secret_file.read_text()
    assert stat.S_IMODE(secret_file.stat().st_mode) == 0o640
    assert "port=6038" in (tmp_path / "etc" / "manager.conf").read_text()
    assert str(secret_file) in capsys.readouterr().out
    monkeypatch.delenv("ALERTA_AMI_SECRET")
    assert main(["asterisk", "config", "--into", str(tmp_path / "other")]) == 2
