"""Can this line be published? Every problem, each in words an admin can act on.

A line is complete when every menu can be finished (each key leads somewhere, no
loop without a way out, no operator offered where none can answer), every
incident type it offers exists, and every prompt a caller can hear has audio in
every language of the line.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, timedelta
from functools import cache

from ivr.domain import spoken
from ivr.domain.lines import Action, Flow, LineConfig, Menu, OnFail

DIGIT_PROMPTS = (*(f"digit_{d}" for d in "0123456789"), "digit_star", "digit_hash")
STATUS_PROMPTS = (
    "status_enter", "status_not_found", "status_received", "status_in_process",
    "status_resolved", "last_changed", "status_long_ago",
    "unit_minute", "unit_minutes", "unit_hour", "unit_hours", "unit_day", "unit_days",
    *(f"number_{n}" for n in range(61)),
)
# What the report flow itself says, besides its menus.
REPORT_PROMPTS = (
    "greeting", "press", "hint_one_key", "goodbye", "goodbye_retry",
    "callback_is", "callback_confirm", "callback_enter", "callback_invalid",
    "zone_enter", "zone_invalid", "record_instructions", "beep", "record_empty",
    "record_failed", "review_menu", "message_saved", "report_number_is", "thanks_goodbye",
    "no_input", "invalid",
)
OPERATOR_PROMPTS = ("connecting_operator", "operator_unavailable")
LANGUAGE_PROMPT = "language_option"  # "Para español, marque" in each language, then its digit
CLOSED_PROMPT = "closed"  # said after the greeting when operators are off duty
# What the tax flow itself says (ivr/flows/tax.py); amounts and dates: tax_spoken_prompts.
TAX_PROMPTS = (
    "tax_greeting", "tax_enter_id", "tax_id_invalid", "tax_enter_secret",
    "tax_not_matched", "tax_refused", "tax_blocked", "tax_unavailable", "tax_total_is",
    "tax_pay_by", "tax_overdue_since", "tax_nothing_owed", "tax_options_repeat",
    "no_input", "invalid", "hint_one_key", "goodbye",
)
TAX_OPERATOR_PROMPTS = ("tax_options", "connecting_operator")
# What the participation flow says (ivr/flows/participation.py), besides its kind menu,
# its areas (area_<id>) and the dates of ``day_prompts``.
PARTICIPATION_PROMPTS = (
    "part_greeting", "part_area_intro", "press", "hint_one_key", "goodbye", "goodbye_retry",
    "callback_is", "callback_confirm", "callback_enter", "callback_invalid",
    "part_record_instructions", "beep", "record_empty", "record_failed", "review_menu",
    "case_message_saved", "case_number_is", "case_answer_by", "case_thanks",
    "no_input", "invalid",
)
# Kinds whose business days the settings give when the line sets none (participation_*_days).
DEFAULT_CASE_KINDS = ("complaint", "suggestion", "query")


@cache
def day_prompts() -> tuple[str, ...]:
    """Every piece ``spoken.day`` can say of a due date, this year's or the next's."""
    first = date(2026, 1, 1)
    out: set[str] = set()
    for language in ("es", "en"):
        for n in range(366):
            when = first + timedelta(days=n)
            out.update(spoken.day(language, when, first))
            out.update(spoken.day(language, when.replace(year=2027), first))
    return tuple(sorted(out))


@cache
def tax_spoken_prompts() -> tuple[str, ...]:
    """Every piece ``spoken.money`` and ``spoken.day`` can say, in either grammar: read
    off the functions themselves over amounts and dates that use every piece."""
    amounts = [*range(0, 1000 * 100, 100), *range(100), 101, 150, *(n * 100 for n in (
        1000, 1001, 2000, 21_000, 100_000, 999_999, 1_000_000, 1_000_100, 2_000_000,
        21_000_000, 100_000_000))]
    first = date(2026, 1, 1)
    days = [first + timedelta(days=n) for n in range(366)]
    out: set[str] = set()
    for language in ("es", "en"):
        for cents in amounts:
            out.update(spoken.money(language, cents))
        for when in days:
            out.update(spoken.day(language, when, first))
            out.update(spoken.day(language, when.replace(year=2027), first))
    return tuple(sorted(out))


def required_prompts(line: LineConfig) -> dict[str, str]:
    """Prompt id → why the line needs it (for the message when it is missing)."""
    need: dict[str, str] = {}

    def add(ids: tuple[str, ...] | list[str], why: str) -> None:
        for pid in ids:
            need.setdefault(pid, why)

    add(list(DIGIT_PROMPTS), "digits are read to callers")
    if line.flow is Flow.STATUS:  # it answers in the caller's language: no language menu
        add(["greeting", "goodbye", "no_input", *STATUS_PROMPTS], "the status flow")
        return need
    if len(line.languages) > 1:
        add([LANGUAGE_PROMPT], "the language menu")
    if line.flow is Flow.TAX:
        add(list(TAX_PROMPTS), "the tax flow")
        add(list(tax_spoken_prompts()), "amounts and dates told to taxpayers")
        if line.operator_queue:
            add(list(TAX_OPERATOR_PROMPTS), "the tax flow's operator")
        return need
    if line.flow is Flow.PARTICIPATION:
        add(list(PARTICIPATION_PROMPTS), "the participation flow")
        add(list(day_prompts()), "the date a case will be answered by")
        add([a.announce for a in line.areas], "the area menu")
        for menu in _reachable(line):
            add([menu.intro, menu.invalid_prompt, menu.no_input_prompt], f"menu {menu.id}")
            add([o.announce for o in menu.options], f"menu {menu.id}")
        return need
    add(list(REPORT_PROMPTS), "the report flow")
    if line.hours:
        add([CLOSED_PROMPT], "opening hours are set")
    for menu in _reachable(line):
        where = f"menu {menu.id}"
        add([menu.intro, menu.invalid_prompt, menu.no_input_prompt], where)
        for option in menu.options:
            add([option.announce], f"{where} key {option.key}")
            if option.action is Action.STATUS:
                add(list(STATUS_PROMPTS), f"{where} key {option.key} (status)")
            if option.action is Action.OPERATOR:
                add(list(OPERATOR_PROMPTS), f"{where} key {option.key} (operator)")
        if menu.on_fail is OnFail.OPERATOR and line.operator_queue:
            add(list(OPERATOR_PROMPTS), f"{where} (after the last try)")
    if any(t.emergency for t in line.types) and line.operator_queue:
        add(list(OPERATOR_PROMPTS), "emergencies go to an operator")
    return need


def problems(line: LineConfig) -> list[str]:
    """Everything that stops this line from being published; empty when it can be."""
    out = list(_menu_problems(line))
    if not line.numbers:
        out.append("the line has no number to dial")
    for pid, why in required_prompts(line).items():
        missing = [lang for lang in line.languages if not line.audio(pid, lang)]
        if missing:
            out.append(f"prompt {pid} has no audio in {', '.join(missing)} (needed by {why})")
    return out


def _participation_problems(line: LineConfig) -> Iterator[str]:
    """The kind menu offers kinds of case only; areas have keys of their own; every
    kind has its days (the line's, an area's or the settings' default)."""
    menu = line.menu(line.start_menu)
    if menu is None:
        yield f"the kind menu {line.start_menu!r} does not exist"
        return
    if not menu.options:
        yield f"menu {menu.id} offers no kind of case"
    for option in menu.options:
        if option.action is not Action.TYPE or line.type(option.target) is None:
            yield (f"menu {menu.id} key {option.key} must lead to a kind of case (a type "
                   "of the line)")
    if not line.areas:
        yield "the line has no municipal area to pick"
    keys = [a.key for a in line.areas]
    for key in sorted({k for k in keys if keys.count(k) > 1}):
        yield f"area key {key} is used twice"
    for kind in line.types:
        if kind.answer_days is None and kind.id not in DEFAULT_CASE_KINDS and not all(
                kind.id in a.days for a in line.areas):
            yield (f"kind {kind.id} has no business days to answer in (set answer_days)")


def _menu_problems(line: LineConfig) -> Iterator[str]:
    if line.flow is Flow.PARTICIPATION:
        yield from _participation_problems(line)
        return
    if line.flow is not Flow.REPORT:
        return
    if line.menu(line.start_menu) is None:
        yield f"the start menu {line.start_menu!r} does not exist"
        return
    offered: set[str] = set()
    for menu in line.menus:
        if not menu.options:
            yield f"menu {menu.id} has no options"
        for option in menu.options:
            at = f"menu {menu.id} key {option.key}"
            if option.action is Action.TYPE:
                if line.type(option.target) is None:
                    yield f"{at} leads to incident type {option.target!r}, which does not exist"
                offered.add(option.target or "")
            elif option.action is Action.MENU:
                if line.menu(option.target) is None:
                    yield f"{at} leads to menu {option.target!r}, which does not exist"
                elif option.target == menu.id:
                    yield f"{at} leads back to the same menu (use 'repeat')"
            elif option.target:
                yield f"{at}: action {option.action.value} takes no target"
            if option.action is Action.OPERATOR and not line.operator_queue:
                yield f"{at} offers an operator, but the line has no operator queue"
    yield from _loops(line)
    reachable = {m.id for m in _reachable(line)}
    for menu in line.menus:
        if menu.id not in reachable:
            yield f"menu {menu.id} cannot be reached from the start menu {line.start_menu}"


def _ends(menu: Menu) -> bool:
    """Does this menu itself offer a way out (not another menu, not a repeat)?"""
    return any(o.action not in (Action.MENU, Action.REPEAT) for o in menu.options)


def _loops(line: LineConfig) -> Iterator[str]:
    """Menus from which no key ever reaches a way out: a caller would go round forever."""
    exits = {m.id for m in line.menus if _ends(m)}
    changed = True
    while changed:  # a menu leads out when one of its keys reaches a menu that does
        changed = False
        for m in line.menus:
            if m.id not in exits and any(
                o.action is Action.MENU and o.target in exits for o in m.options
            ):
                exits.add(m.id)
                changed = True
    for m in line.menus:
        if m.id not in exits and m.options:
            yield f"menu {m.id} has no way out: every key leads only to menus or repeats"


def _reachable(line: LineConfig) -> list[Menu]:
    seen: list[Menu] = []
    todo = [line.start_menu]
    while todo:
        menu = line.menu(todo.pop())
        if menu is None or menu in seen:
            continue
        seen.append(menu)
        todo += [o.target for o in menu.options if o.action is Action.MENU]
    return seen
