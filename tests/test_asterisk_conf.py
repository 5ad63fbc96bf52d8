"""Static checks of asterisk_conf/ and dialplans/: the security rules hold, and the
names the controller uses (contexts, queue, AGI scripts, prompts) are the ones
Asterisk is configured with. Asterisk itself is not needed.

Each rule is a function returning the problems it finds; the real files must
give none, and a small deliberately bad fixture must give some.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from ivr import variables
from ivr.ami.originate import INVALID_NUMBER, RING_VARIABLE, USER_EVENT
from ivr.config import Settings

ROOT = Path(__file__).resolve().parent.parent
CONF = ROOT / "asterisk_conf"
DIALPLAN = ROOT / "dialplans" / "extensions.conf"
SETTINGS = Settings()
CITIZEN_SCRIPTS = {"report", "status", "line"}  # what citizens' numbers reach
AGI_SCRIPTS = {*CITIZEN_SCRIPTS, "prompt_record"}  # ivr.flows.ROUTES, checked below
PLACEHOLDER = re.compile(r"(__[A-Z0-9_]+__|<[^>]*>?)")


# --- an Asterisk config reader: [section](template), key = value, key => value, ; comments


@dataclass
class Section:
    name: str
    template: str | None
    entries: list[tuple[str, str, int]] = field(default_factory=list)  # key, value, line

    def values(self, key: str) -> list[str]:
        return [v for k, v, _ in self.entries if k == key]

    def get(self, key: str, default: str = "") -> str:
        found = self.values(key)
        return found[-1] if found else default


def strip_comment(line: str) -> str:
    return re.split(r"(?<!\\);", line, maxsplit=1)[0].strip()


def parse(text: str) -> list[Section]:
    sections = [Section("", None)]
    for lineno, raw in enumerate(text.splitlines(), 1):
        line = strip_comment(raw)
        if not line:
            continue
        header = re.fullmatch(r"\[([^\]]+)\](?:\(([^)]*)\))?", line)
        if header:
            sections.append(Section(header.group(1), header.group(2)))
        elif line.startswith("#"):
            directive, _, arg = line.partition(" ")
            sections[-1].entries.append((directive.lower(), arg.strip(), lineno))
        else:
            key, sep, value = line.partition("=")
            assert sep, f"line {lineno}: not key=value: {raw!r}"
            sections[-1].entries.append((key.strip().lower(), value.lstrip(">").strip(), lineno))
    return sections


def section(sections: list[Section], name: str, type_: str | None = None) -> Section | None:
    for s in sections:
        if s.name == name and (type_ is None or s.get("type") == type_):
            return s
    return None


@dataclass(frozen=True)
class Step:
    context: str
    exten: str
    app: str  # lower-case
    args: str
    lineno: int


def steps(text: str) -> Iterator[Step]:
    """Every dialplan priority: exten => ext,prio,App(args) and same => prio,App(args)."""
    exten = ""
    for s in parse(text):
        for key, value, lineno in s.entries:
            if key == "exten":
                exten, _, rest = value.partition(",")
                _prio, _, call = rest.partition(",")
            elif key == "same":
                _prio, _, call = value.partition(",")
            else:
                continue
            app, _, args = call.partition("(")
            yield Step(s.name, exten.strip(), app.strip().lower(), args.rstrip()[:-1], lineno)


def unfiltered_caller_data(text: str) -> list[str]:
    """${EXTEN} and ${CALLERID(...)} occurrences not inside a FILTER(...)."""
    found, stack = [], []
    for i, char in enumerate(text):
        hit = re.match(r"\$\{(EXTEN\}|CALLERID\()", text[i:])
        if hit and "FILTER" not in stack:
            found.append(hit.group(0))
        if char == "(":
            stack.append(re.search(r"[A-Za-z_]*$", text[:i]).group(0).upper())  # type: ignore[union-attr]
        elif char == ")" and stack:
            stack.pop()
    return found


# --- the rules --------------------------------------------------------------------------


def bind_problems(text: str) -> list[str]:
    return [
        f"line {n}: {k}={v} is not 127.0.0.1"
        for s in parse(text) for k, v, n in s.entries
        if "bind" in k and re.split(r":(?=\d+$)", v)[0] != "127.0.0.1"
    ]


def manager_problems(text: str) -> list[str]:
    sections = parse(text)
    general = section(sections, "general") or Section("general", None)
    problems = []
    if general.get("enabled") != "yes" or general.get("webenabled", "no") != "no":
        problems.append("AMI must be enabled=yes and webenabled=no")
    if general.get("port") != "5038":
        problems.append("AMI port must be 5038")
    for user in (s for s in sections if s.name not in ("", "general")):
        read = {c.strip() for c in user.get("read").split(",")}
        write = {c.strip() for c in user.get("write").split(",")}
        if read & {"all", "system", "command", "config"}:
            problems.append(f"{user.name}: read {sorted(read)} is too wide")
        if write & {"all", "system", "command", "config"}:
            problems.append(f"{user.name}: write {sorted(write)} is too wide")
        acl = [(k, v) for k, v, _ in user.entries if k in ("deny", "permit")]
        if acl != [("deny", "0.0.0.0/0.0.0.0"), ("permit", "127.0.0.1/255.255.255.255")]:
            problems.append(f"{user.name}: needs deny=0.0.0.0/0.0.0.0 then permit=127.0.0.1/32")
        secrets = user.values("secret")
        if any(not PLACEHOLDER.fullmatch(s) for s in secrets):
            problems.append(f"{user.name}: a real secret is in the repository")
        if not user.values("#include"):
            problems.append(f"{user.name}: the secret must come from an #include at deploy time")
    return problems


def forbidden_app_problems(text: str) -> list[str]:
    return [
        f"line {n}: {m.group(0)}"
        for n, line in enumerate(text.splitlines(), 1)
        for m in re.finditer(r"\b(TrySystem|System|Shell|SHELL)\s*\(", strip_comment(line), re.I)
    ]


def caller_data_problems(text: str) -> list[str]:
    return [
        f"line {st.lineno}: {st.app}({st.args}) uses {hit} unfiltered"
        for st in steps(text) for hit in unfiltered_caller_data(st.args)
    ]


def dial_argument_problems(text: str) -> list[str]:
    """Dial/Queue arguments may use globals and variables Set from FILTER() only."""
    globals_ = {k.upper() for s in parse(text) if s.name == "globals" for k, _, _ in s.entries}
    clean: dict[str, set[str]] = {}
    problems = []
    for st in steps(text):
        assigned = re.fullmatch(r"(\w+)=\$\{FILTER\(.*\)\}", st.args)
        if st.app == "set" and assigned:
            clean.setdefault(st.context, set()).add(assigned.group(1).upper())
        if st.app in ("dial", "queue", "addqueuemember", "removequeuemember"):
            for name in re.findall(r"\$\{(\w+)\}", st.args):
                if name.upper() not in globals_ | clean.get(st.context, set()):
                    problems.append(f"line {st.lineno}: {st.app} uses ${{{name}}} unfiltered")
    return problems


def agi_problems(text: str) -> list[str]:
    problems = []
    for st in (st for st in steps(text) if st.app == "agi"):
        url = re.fullmatch(r"agi://127\.0\.0\.1:4573/(\w+)(\?[\w=&]*)?", st.args)
        if not url or url.group(1) not in AGI_SCRIPTS:
            problems.append(f"line {st.lineno}: AGI({st.args}) is not one of our FastAGI flows")
    return problems


def pattern_problems(text: str) -> list[str]:
    """Open-ended patterns (_X. _.) only where the number is not known: callbacks, and the
    citizens' numbers that admins give lines (the controller checks those against its lines)."""
    known = {(SETTINGS.callback_context, "_X.")}
    if any(st.context == "alerta-in" and st.exten == "_X." and st.app == "agi"
           and st.args == "agi://127.0.0.1:4573/line" for st in steps(text)):
        known.add(("alerta-in", "_X."))  # handed to the controller, which knows the numbers
    return [
        f"line {st.lineno}: {st.exten} in {st.context}"
        for st in steps(text)
        if st.exten.startswith("_") and re.search(r"[.!]", st.exten)
        and (st.context, st.exten) not in known
    ]


def fallback_problems(text: str) -> list[str]:
    flow = [st for st in steps(text) if st.context == SETTINGS.fallback_context]
    if not flow:
        return [f"no [{SETTINGS.fallback_context}] context"]
    said = [i for i, st in enumerate(flow) if st.app == "playback"]
    queued = [i for i, st in enumerate(flow) if st.app == "queue"]
    wanted = f"{SETTINGS.operator_queue},,,,{SETTINGS.operator_timeout_s}"
    if not queued or flow[queued[0]].args != wanted:
        return [f"the fallback must run Queue({wanted})"]
    if not said or "technical_problem" not in flow[said[0]].args or said[0] > queued[0]:
        return ["the fallback must play technical_problem before queueing"]
    if said[-1] < queued[0] or flow[-1].app != "hangup":
        return ["after an unanswered queue the fallback must say goodbye, then hang up"]
    return []


def callback_problems(text: str) -> list[str]:
    """The callback context gets the citizen's number as EXTEN (ivr/ami/originate.py), filters
    and length-checks it, dials it through the trunk with the ring time the controller sent,
    and reports the outcome in the UserEvent ivr/ami/outcome.py reads."""
    context = SETTINGS.callback_context
    apps = [(st.app, st.args) for st in steps(text) if st.context == context and st.exten == "_X."]
    lo, hi = SETTINGS.callback_min_digits, SETTINGS.callback_max_digits
    if not apps or apps[0] != ("set", "NUMBER=${FILTER(0-9,${EXTEN})}"):
        return [f"[{context}] must start by filtering EXTEN to digits"]
    check = f"$[${{LEN(${{NUMBER}})}} < {lo} | ${{LEN(${{NUMBER}})}} > {hi}]?invalid"
    if apps[1] != ("gotoif", check):
        return [f"the callback must refuse numbers outside {lo}..{hi} digits before dialling"]
    rings = [args for app, args in apps if app == "set" and args.startswith("RING=")]
    if rings != [f"RING=${{FILTER(0-9,${{{RING_VARIABLE}}})}}"]:
        return [f"the ring time must be {RING_VARIABLE} filtered to digits"]
    dials = [i for i, (app, _) in enumerate(apps) if app == "dial"]
    if [apps[i][1] for i in dials] != ["PJSIP/${NUMBER}@${ALERTA_TRUNK},${RING}"]:
        return ["the callback must dial the filtered number through the trunk, with RING"]
    reported = f"{USER_EVENT},Status: ${{DIALSTATUS}}"
    if apps[dials[0] + 1 : dials[0] + 2] != [("userevent", reported)]:
        return [f"right after Dial the callback must report UserEvent({reported})"]
    if ("userevent", f"{USER_EVENT},Status: {INVALID_NUMBER}") not in apps[dials[0] + 1 :]:
        return [f"a refused number must be reported as Status: {INVALID_NUMBER}"]
    return []


def password_problems(text: str) -> list[str]:
    """Also in comments: an example must not carry a usable password either."""
    return [
        f"line {n}: {m.group(0)}"
        for n, line in enumerate(text.splitlines(), 1)
        for m in re.finditer(r"\b(password|secret)\s*=\s*(\S+)", line, re.I)
        if not PLACEHOLDER.match(m.group(2))
    ]


def queue_problems(text: str) -> list[str]:
    queue = section(parse(text), SETTINGS.operator_queue)
    if queue is None:
        return [f"no queue [{SETTINGS.operator_queue}]"]
    problems = []
    if queue.get("joinempty") in ("", "yes"):
        problems.append("joinempty must keep callers out of an empty queue")
    if queue.get("leavewhenempty") in ("", "no"):
        problems.append("leavewhenempty must let callers out when the queue empties")
    if not queue.get("strategy") or not queue.get("timeout"):
        problems.append("the queue needs a strategy and a ring timeout")
    return problems


def sipp_problems(text: str) -> list[str]:
    sections = parse(text)
    endpoint = section(sections, "sipp", "endpoint")
    identify = section(sections, "sipp", "identify")
    if endpoint is None or identify is None:
        return ["no sipp endpoint and identify"]
    problems = []
    if endpoint.get("context") != "alerta-in" or endpoint.get("direct_media") != "no":
        problems.append("sipp: context=alerta-in and direct_media=no")
    if not {"ulaw", "alaw"} <= set(endpoint.get("allow").split(",")):
        problems.append("sipp: allow ulaw and alaw")
    if identify.get("match") != "127.0.0.1":
        problems.append("sipp: match=127.0.0.1")
    return problems


def read(path: Path) -> str:
    return path.read_text(encoding="utf-8")


DIALPLAN_RULES: list[Callable[[str], list[str]]] = [
    forbidden_app_problems, caller_data_problems, dial_argument_problems, agi_problems,
    pattern_problems, fallback_problems, callback_problems,
]


# --- the real configuration ----------------------------------------------------------------


@pytest.mark.parametrize("path", sorted(CONF.glob("*.conf")), ids=lambda p: p.name)
def test_every_listener_binds_loopback(path: Path) -> None:
    assert bind_problems(read(path)) == []


def test_ami_user_is_least_privilege_and_loopback_only() -> None:
    assert manager_problems(read(CONF / "manager.conf")) == []
    user = section(parse(read(CONF / "manager.conf")), "alerta")
    assert user is not None and user.get("write") == "originate"


def test_ami_user_reads_the_events_callbacks_are_told_by() -> None:
    """call: OriginateResponse, DialBegin/DialEnd, Hangup; user: UserEvent (ivr/ami/outcome.py)."""
    user = section(parse(read(CONF / "manager.conf")), "alerta")
    assert user is not None
    assert {"call", "user"} <= {c.strip() for c in user.get("read").split(",")}


@pytest.mark.parametrize("rule", DIALPLAN_RULES, ids=lambda r: r.__name__)
def test_dialplan_rule_holds(rule: Callable[[str], list[str]]) -> None:
    assert rule(read(DIALPLAN)) == []


def test_agi_scripts_are_the_flows_registered_by_the_controller() -> None:
    from ivr.flows import ROUTES

    named = {re.sub(r"\?.*", "", st.args.rsplit("/", 1)[-1])
             for st in steps(read(DIALPLAN)) if st.app == "agi"}
    assert named == AGI_SCRIPTS <= set(ROUTES)


def test_citizen_lines_answer_in_spanish_before_handing_over() -> None:
    flow = [(st.app, st.args) for st in steps(read(DIALPLAN)) if st.context == "alerta-in"]
    for script in sorted(CITIZEN_SCRIPTS):
        at = flow.index(("agi", f"agi://127.0.0.1:4573/{script}"))
        before = flow[at - 3 : at]
        assert before == [("set", "CHANNEL(language)=es"), ("answer", ""), ("wait", "0.5")]
        # Back from the controller with the caller still there (a flow that finishes hangs
        # up): it failed to connect, or stopped mid-call (killed): an operator takes over.
        assert flow[at + 1:at + 3] == [
            ("gotoif", '$["${AGISTATUS}" != "SUCCESS"]?alerta-fallback,s,1'),
            ("goto", "alerta-fallback,s,1")]


def test_dialplan_variables_are_the_shared_names() -> None:
    text = read(DIALPLAN)
    shared = {v for k, v in vars(variables).items() if k.isupper() and isinstance(v, str)}
    globals_ = {k.upper() for s in parse(text) if s.name == "globals" for k, _, _ in s.entries}
    used = set(re.findall(r"\b(ALERTA_\w+)", "\n".join(strip_comment(x) for x in text.split("\n"))))
    assert used - shared - globals_ <= {RING_VARIABLE}  # set by the AMI Originate
    assert section(parse(text), "globals").get("alerta_prompts") == "/var/lib/alerta/prompts"  # type: ignore[union-attr]


def test_prompts_the_dialplan_plays_are_in_the_catalogue() -> None:
    catalogue = tomllib.loads(read(ROOT / "prompts" / "catalogue.toml"))["prompt"]
    played = re.findall(r"\$\{ALERTA_PROMPTS\}/[^/]+/(\w+)", read(DIALPLAN))
    assert played and set(played) <= set(catalogue)


def test_no_real_password_in_pjsip() -> None:
    assert password_problems(read(CONF / "pjsip.conf")) == []
    assert password_problems(read(CONF / "manager.conf")) == []


def test_operator_queue_is_the_configured_one() -> None:
    assert queue_problems(read(CONF / "queues.conf")) == []


def test_sipp_endpoint_exists() -> None:
    assert sipp_problems(read(CONF / "pjsip.conf")) == []


def test_modules_that_run_shell_commands_are_not_loaded() -> None:
    modules = section(parse(read(CONF / "modules.conf")), "modules")
    assert modules is not None and modules.get("autoload") == "yes"
    assert {"app_system.so", "func_shell.so", "pbx_lua.so"} <= set(modules.values("noload"))
    assert {"res_agi.so", "chan_pjsip.so", "app_queue.so"} <= set(modules.values("require"))


def test_rtp_port_range_is_set() -> None:
    rtp = section(parse(read(CONF / "rtp.conf")), "general")
    assert rtp is not None and 1024 < int(rtp.get("rtpstart")) < int(rtp.get("rtpend")) <= 65535


# --- each rule catches a deliberately bad configuration --------------------------------------

GOOD_CALLBACK = """[globals]\nALERTA_TRUNK=provider\n[alerta-callback]
exten => _X.,1,Set(NUMBER=${FILTER(0-9,${EXTEN})})
 same => n,GotoIf($[${LEN(${NUMBER})} < 6 | ${LEN(${NUMBER})} > 15]?invalid)
 same => n,Set(RING=${FILTER(0-9,${ALERTA_RING_S})})
 same => n(dial),Dial(PJSIP/${NUMBER}@${ALERTA_TRUNK},${RING})
 same => n,UserEvent(AlertaCallback,Status: ${DIALSTATUS})
 same => n,Hangup()
 same => n(invalid),UserEvent(AlertaCallback,Status: INVALIDNUMBER)
"""

BAD: list[tuple[Callable[[str], list[str]], str]] = [
    (bind_problems, "[transport-udp]\ntype=transport\nbind=0.0.0.0:5060\n"),
    (bind_problems, "[general]\nbindaddr = 192.168.1.10\n"),
    (manager_problems, "[general]\nenabled=yes\nwebenabled=yes\nport=5038\n"),
    (manager_problems, "[general]\nenabled=yes\nport=5038\n[u]\nread=call\nwrite=originate,system\n"
     "deny=0.0.0.0/0.0.0.0\npermit=127.0.0.1/255.255.255.255\n#include s.conf\n"),
    (manager_problems, "[general]\nenabled=yes\nport=5038\n[u]\nread=all\nwrite=originate\n"
     "deny=0.0.0.0/0.0.0.0\npermit=127.0.0.1/255.255.255.255\n#include s.conf\n"),
    (manager_problems, "[general]\nenabled=yes\nport=5038\n[u]\nread=call\nwrite=originate\n"
     "permit=127.0.0.1/255.255.255.255\n#include s.conf\n"),
    (manager_problems, "[general]\nenabled=yes\nport=5038\n[u]\nread=call\nwrite=originate\n"
     "deny=0.0.0.0/0.0.0.0\npermit=127.0.0.1/255.255.255.255\nsecret=hunter2\n"),
    (forbidden_app_problems, "[x]\nexten => 1,1,System(rm -rf /tmp/x)\n"),
    (forbidden_app_problems, "[x]\nexten => 1,1,Set(A=${SHELL(id)})\n"),
    (caller_data_problems, "[x]\nexten => _X.,1,Dial(PJSIP/${EXTEN}@provider)\n"),
    (caller_data_problems, "[x]\nexten => s,1,Queue(${CALLERID(num)})\n"),
    (dial_argument_problems, "[x]\nexten => s,1,Dial(PJSIP/${ALERTA_CALLBACK_NUMBER}@provider)\n"),
    (agi_problems, "[x]\nexten => s,1,AGI(agi://10.0.0.5:4573/report)\n"),
    (agi_problems, "[x]\nexten => s,1,AGI(agi://127.0.0.1:4573/admin)\n"),
    (pattern_problems, "[alerta-in]\nexten => _X.,1,Goto(alerta-fallback,s,1)\n"),
    (pattern_problems, "[operators]\nexten => _.,1,Hangup()\n"),
    (fallback_problems, "[other]\nexten => s,1,Hangup()\n"),
    (fallback_problems, "[alerta-fallback]\nexten => s,1,Playback(x/technical_problem)\n"
     " same => n,Queue(operators,,,,30)\n same => n,Hangup()\n"),  # dead air after the queue
    (pattern_problems, "[callback]\nexten => _X.,1,Hangup()\n"),
    (callback_problems, "[alerta-callback]\nexten => _X.,1,Dial(PJSIP/${EXTEN}@provider,30)\n"),
    (callback_problems, GOOD_CALLBACK.replace("< 6", "< 3")),
    (callback_problems, GOOD_CALLBACK.replace("RING=${FILTER(0-9,${ALERTA_RING_S})}", "RING=30")),
    (callback_problems, GOOD_CALLBACK.replace("${ALERTA_TRUNK},${RING})", "${ALERTA_TRUNK})")),
    (callback_problems, GOOD_CALLBACK + " same => n,Dial(PJSIP/${NUMBER}@provider2,${RING})\n"),
    (callback_problems, GOOD_CALLBACK.replace("Status: ${DIALSTATUS}", "Status: done")),
    (callback_problems, GOOD_CALLBACK.replace("Status: INVALIDNUMBER", "Status: refused")),
    (password_problems, "[provider-auth](!)\ntype=auth\npassword=Sup3rS3cret!\n"),
    (password_problems, ";   password=letmein\n"),
    (queue_problems, "[operators]\nstrategy=ringall\ntimeout=15\njoinempty=yes\n"),
    (queue_problems, "[support]\nstrategy=ringall\n"),
    (sipp_problems, "[sipp]\ntype=endpoint\ncontext=default\nallow=ulaw\n"),
]


def test_the_good_callback_fixture_passes() -> None:
    """So each bad variant above fails for the one change it makes."""
    assert callback_problems(GOOD_CALLBACK) == []


@pytest.mark.parametrize(("rule", "bad"), BAD, ids=lambda x: getattr(x, "__name__", ""))
def test_rule_rejects_a_bad_config(rule: Callable[[str], list[str]], bad: str) -> None:
    assert rule(bad), f"{rule.__name__} accepted:\n{bad}"
