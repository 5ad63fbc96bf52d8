"""A deployment made exactly as asterisk_conf/ and docs/deploy-asterisk.md say works.

Two levels. Statically: the provider trunk built from pjsip.conf's own example
(the comment a deployer copies) ends with one contact and one match, because
Asterisk *appends* list options across templates; every music class the
queue asks for is shipped; the deployment guide installs every shipped file.
Live: the same files loaded into a private real Asterisk 22 (`pjsip show aor`,
`pjsip show identify`, `moh show classes`).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from ivr.config import Settings
from ivr.testing.asterisk import AsteriskFailed, AsteriskMissing, PrivateAsterisk, tools
from tests.browser_util import in_ci
from tests.test_asterisk_conf import Section, parse, section

ROOT = Path(__file__).resolve().parent.parent
CONF = ROOT / "asterisk_conf"
DIALPLAN = ROOT / "dialplans" / "extensions.conf"
GUIDE = ROOT / "docs" / "deploy-asterisk.md"
# Asterisk list options: each value an object gets is *added* to those of its templates.
LIST_OPTIONS = {"aor": {"contact"}, "identify": {"match"}}
# What a deployer writes for each placeholder of the example. A loopback address and the
# discard port, so that the live test's registration attempts never leave this machine.
PROVIDER = "127.0.0.2"
CONTACT = f"sip:{PROVIDER}:9"
FILLED = {
    "server_uri": CONTACT, "client_uri": f"sip:alerta@{PROVIDER}",
    "username": "alerta", "password": "__SET_AT_DEPLOY__",
    "contact": CONTACT, "match": PROVIDER,
}


def read(path: Path) -> str:
    return path.read_text(encoding="utf-8")


# --- how Asterisk builds an object from templates ---------------------------------------------


def build(sections: list[Section], name: str, type_: str) -> list[tuple[str, str]]:
    """The options object [name] of that type ends with: its templates' (in order), then its own.
    Templates are sections marked (!) and are never objects themselves."""
    by_name = {s.name: s for s in sections if s.template and "!" in s.template.split(",")}
    for s in sections:
        if s.name != name or (s.template and "!" in s.template.split(",")):
            continue
        inherited = [by_name[t.strip()] for t in (s.template or "").split(",") if t.strip()]
        options = [(k, v) for t in inherited for k, v, _ in t.entries] + [
            (k, v) for k, v, _ in s.entries
        ]
        if dict(options).get("type") == type_:
            return options
    raise AssertionError(f"no {type_} [{name}]")


def list_option_problems(text: str) -> list[str]:
    """A template must not carry a list option: every object built from it would keep it."""
    return [
        f"line {line}: template [{s.name}] sets {key}= (a list option: it stays in every "
        f"{s.get('type')} built from the template, beside the real one)"
        for s in parse(text) if s.template and "!" in s.template.split(",")
        for key, _, line in s.entries if key in LIST_OPTIONS.get(s.get("type"), set())
    ]


def deployment_example(pjsip_text: str) -> str:
    """pjsip.conf's commented example of /etc/asterisk/pjsip_provider.conf, placeholders filled."""
    lines = pjsip_text.splitlines()
    start = next(i for i, line in enumerate(lines) if "pjsip_provider.conf (not in git)" in line)
    out = []
    for line in lines[start + 1:]:
        if not line.startswith(";   "):
            break
        text = line.removeprefix(";   ")
        key, sep, value = text.partition("=")
        if sep and "<" in value:
            value = FILLED[key.strip()]
        out.append(f"{key}={value}" if sep else text)
    return "\n".join(out) + "\n"


def test_the_example_provider_file_is_what_the_guide_describes() -> None:
    example = deployment_example(read(CONF / "pjsip.conf"))
    assert {s.template for s in parse(example) if s.name == "provider"} == {
        "provider-registration", "provider-auth", "provider-aor", "provider-endpoint",
        "provider-identify",
    }


def test_the_provider_trunk_built_as_documented_has_one_contact_and_one_match() -> None:
    """A placeholder contact in the template stayed beside the real one (Dial picked it and
    every callback ended in CONGESTION); a placeholder match failed the identify on load."""
    sections = parse(read(CONF / "pjsip.conf") + deployment_example(read(CONF / "pjsip.conf")))
    aor = build(sections, "provider", "aor")
    identify = build(sections, "provider", "identify")
    assert [v for k, v in aor if k == "contact"] == [CONTACT]
    assert [v for k, v in identify if k == "match"] == [PROVIDER]


def test_no_template_carries_a_list_option() -> None:
    assert list_option_problems(read(CONF / "pjsip.conf")) == []
    bad = "[t](!)\ntype=aor\ncontact=sip:proxy.invalid\n[i](!)\ntype=identify\nmatch=x.invalid\n"
    assert len(list_option_problems(bad)) == 2
    assert list_option_problems("[provider]\ntype=aor\ncontact=sip:x\n") == []


# --- music on hold ----------------------------------------------------------------------------


def test_every_music_class_the_queue_plays_is_shipped() -> None:
    """Without musiconhold.conf there is no class `default`: a caller waiting while an
    operator's phone rings hears silence."""
    wanted = {s.get("musicclass") for s in parse(read(CONF / "queues.conf")) if s.get("musicclass")}
    assert wanted == {"default"}
    classes = parse(read(CONF / "musiconhold.conf"))
    for name in wanted:
        music = section(classes, name)
        assert music is not None, f"musiconhold.conf has no [{name}]"
        assert music.get("mode") == "files"
        folder = Path(music.get("directory"))
        # A relative directory is read under astdatadir, where the stock music is installed.
        assert not folder.is_absolute() and folder.parts == ("moh",), folder


# --- the deployment guide -----------------------------------------------------------------------


def guide_installs() -> set[str]:
    """The file names the guide's `install ... /etc/asterisk/` command copies."""
    command = re.search(r"sudo install -m 0640 -o root -g asterisk \\\n(.*?)/etc/asterisk/\n",
                        read(GUIDE), re.S)
    assert command, "the guide has no install command for /etc/asterisk/"
    return {Path(word).name for word in command.group(1).split() if word.endswith(".conf")}


def test_the_guide_installs_every_shipped_file() -> None:
    shipped = {p.name for p in CONF.glob("*.conf")} | {DIALPLAN.name}
    assert guide_installs() == shipped


def test_the_guide_says_what_the_provider_file_must_hold() -> None:
    guide = read(GUIDE)
    for needed in ("contact=", "match=", "pjsip_provider.conf", "list option", "musiconhold.conf",
                   "moh show classes", "pjsip show aor provider", "pjsip show identify provider"):
        assert needed in guide, f"docs/deploy-asterisk.md does not mention {needed}"


# --- live: the same files in a private real Asterisk ------------------------------------------
# Through the shared harness (ivr/testing/asterisk.py): the files `alerta asterisk config`
# writes, on free ports, plus the deployment's own pjsip_provider.conf from the example.


def require(ok: bool, reason: str) -> None:
    """Skip (saying why) when real Asterisk cannot run here; fail under CI=true."""
    if ok:
        return
    if in_ci():
        pytest.fail(f"CI=true and {reason}", pytrace=False)
    pytest.skip(reason)


@pytest.fixture
def private_asterisk(tmp_path: Path, settings: Settings) -> Iterator[PrivateAsterisk]:
    try:
        tools()
    except AsteriskMissing as exc:
        require(False, str(exc))
    provider = deployment_example(read(CONF / "pjsip.conf"))
    try:
        pbx = PrivateAsterisk.start(tmp_path / "asterisk", settings,
                                    extra_files={"pjsip_provider.conf": provider})
    except AsteriskFailed as exc:
        # Only a build this CPU cannot run is the machine's problem; anything else is ours.
        require("SIGILL" not in str(exc), str(exc).splitlines()[0])
        raise
    with pbx:
        yield pbx


def test_real_asterisk_builds_the_documented_trunk_and_plays_music(
    private_asterisk: PrivateAsterisk,
) -> None:
    aor = private_asterisk.rx("pjsip show aor provider")
    contacts = set(re.findall(r"^\s*Contact:\s+provider/(\S+)", aor, re.M))
    assert contacts == {CONTACT}, aor
    identify = private_asterisk.rx("pjsip show identify provider")
    assert re.search(rf"^\s*Match:\s+{re.escape(PROVIDER)}(/32)?\s*$", identify, re.M), identify
    classes = private_asterisk.rx("moh show classes")
    assert re.search(r"^Class: default\s*$", classes, re.M), classes
    assert re.search(r"^\s*Mode: files\s*$", classes, re.M), classes
