"""``alerta messaging``: kannel.conf written from the settings, and a test message through
real Kannel (with its fakesmsc) and a real SMTP server."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from ivr.cli import main
from ivr.testing.kannel import ThrowawayKannel
from ivr.testing.smtp import ThrowawaySmtp


def _settings(path: Path, kannel: ThrowawayKannel | None, smtp: ThrowawaySmtp | None) -> Path:
    text = f'database = "{path.parent / "alerta.sqlite3"}"\n'
    if kannel is not None:
        text += (f'[sms]\nsendsms_url = "{kannel.sendsms_url}"\nusername = "{kannel.username}"\n'
                 f'callback_base = "{kannel.callback_base}"\ndefault_sender = "1000"\n')
    if smtp is not None:
        text += f'[mail]\nhost = "{smtp.host}"\nport = {smtp.port}\nsender = "a@muni.example"\n'
    path.write_text(text, encoding="utf-8")
    return path


def test_kannel_conf_is_written_for_the_settings_and_kept_private(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config = tmp_path / "alerta.toml"
    config.write_text('[sms]\nusername = "alerta"\n', encoding="utf-8")
    monkeypatch.setenv("ALERTA_SMS_PASSWORD", "pw-for-kannel-123")
    monkeypatch.setenv("ALERTA_SMS_CALLBACK_TOKEN", "t" * 24)
    smsc = tmp_path / "smsc.conf"
    smsc.write_text('group = smsc\nsmsc = fake\nsmsc-id = op\nport = 10000\n', encoding="utf-8")
    out = tmp_path / "kannel.conf"
    args = ["--config", str(config), "messaging", "kannel-conf", "--smsc", str(smsc),
            "--spool", str(tmp_path / "spool"), "--out", str(out)]
    assert main(args) == 1  # no admin password
    monkeypatch.setenv("ALERTA_KANNEL_ADMIN_PASSWORD", "admin-pw-456789")
    assert main(args) == 0
    text = out.read_text(encoding="utf-8")
    assert "pw-for-kannel-123" in text and "t" * 24 in text and "smsc-id = op" in text
    assert stat.S_IMODE(out.stat().st_mode) == 0o600
    assert (tmp_path / "spool" / "store").is_dir()


def test_a_secret_in_the_settings_file_is_refused(tmp_path: Path,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    config = tmp_path / "alerta.toml"
    config.write_text('[sms]\ncallback_token = "x"\n', encoding="utf-8")
    assert main(["--config", str(config), "messaging", "test", "--sms", "987000001"]) == 2
    assert "ALERTA_SMS_CALLBACK_TOKEN" in capsys.readouterr().err
    config.write_text('[sms]\npassword = "oops"\n', encoding="utf-8")
    assert main(["--config", str(config), "messaging", "test", "--sms", "987000001"]) == 2
    assert "ALERTA_SMS_PASSWORD" in capsys.readouterr().err


def test_a_test_message_goes_through_kannel_and_smtp(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    with ThrowawayKannel.start() as kannel, ThrowawaySmtp() as smtp:
        monkeypatch.setenv("ALERTA_SMS_PASSWORD", kannel.password)
        monkeypatch.setenv("ALERTA_SMS_CALLBACK_TOKEN", kannel.callback_token)
        config = _settings(tmp_path / "alerta.toml", kannel, smtp)
        code = main(["--config", str(config), "messaging", "test", "--sms", "987000001",
                     "--email", "guardia@muni.example"])
        out = capsys.readouterr().out
        assert code == 0, out
        assert "sms: sent" in out and "email: sent" in out
        (text,) = kannel.wait_received(1, timeout=60)
        assert text.to == "987000001" and "prueba" in text.text
        (mail,) = smtp.wait_received(1, timeout=60)
        assert list(mail.recipients) == ["guardia@muni.example"]
        kannel.stop_gateway()
        assert main(["--config", str(config), "messaging", "test", "--sms", "987000001"]) == 1
        assert "sms: retry" in capsys.readouterr().out


def test_a_token_kannel_would_mangle_is_a_configuration_error(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    config = tmp_path / "alerta.toml"
    config.write_text('[sms]\nusername = "alerta"\n', encoding="utf-8")
    monkeypatch.setenv("ALERTA_SMS_CALLBACK_TOKEN", "abc%C2" + "x" * 20)
    assert main(["--config", str(config), "messaging", "test", "--sms", "987000001"]) == 2
    assert "configuration error: [sms]" in capsys.readouterr().err
