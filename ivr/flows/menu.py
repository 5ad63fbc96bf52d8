"""The keypad menus of a line, as its admins built them, and its language menu.

A menu announces its options in the order they were defined, as
[intro, (announce, "press", digit_<key>)...]; any key interrupts. A wrong key or
silence replays it with the menu's own prompts, up to its tries. Keys that lead
to another menu or repeat this one are followed here; what ends the menu (an
incident type, the status line, the operator) is returned to the flow.
"""

from __future__ import annotations

from ivr.domain.lines import Action, Menu, Option
from ivr.flows.common import Call

LANGUAGE_WAIT_S = 4.0
MAX_MOVES = 20  # menus entered and repeats, before the caller is treated as lost
_DIGIT_NAMES = {"*": "digit_star", "#": "digit_hash"}


def digit_prompt(key: str) -> str:
    return _DIGIT_NAMES.get(key, f"digit_{key}")


def announcement(menu: Menu) -> list[str]:
    prompts = [menu.intro]
    for option in menu.options:
        prompts += [option.announce, "press", digit_prompt(option.key)]
    return prompts


async def choose(call: Call) -> tuple[Option | None, Menu | None]:
    """Walk the line's menus from its start menu. Returns the option that ends the
    menus, or None and the menu where the caller ran out of tries (or got lost)."""
    config = call.line.config
    menu = config.menu(config.start_menu)
    moves = 0
    while menu is not None and moves < MAX_MOVES:
        key = await call.menu(announcement(menu), menu.keys, tries=menu.tries,
                              timeout_s=menu.timeout_s, invalid=menu.invalid_prompt,
                              no_input=menu.no_input_prompt)
        option = menu.option(key)
        if option is None:
            return None, menu
        moves += 1
        if option.action is Action.REPEAT:
            continue
        if option.action is Action.MENU:
            menu = config.menu(option.target)
            continue
        return option, menu
    return None, menu


async def choose_language(call: Call, greeting: str = "greeting") -> None:
    """Greeting (the line's own: a tax line names itself); with several languages, each
    offered in its own voice: "Para español, marque uno. For English, press two. …".
    No key: the first."""
    languages = call.line.config.languages
    if len(languages) < 2:
        await call.say(greeting)
        return
    valid = "".join(str(i + 1) for i in range(len(languages)))
    key = await call.say(greeting, keys=valid)
    if key is None:
        offer: list[str] = []
        for i, language in enumerate(languages):
            offer += [call.prompt("language_option", language),
                      call.prompt(digit_prompt(str(i + 1)), language)]
        *lead, last = offer
        key = await call.channel.play(lead, keys=valid)
        if key is None:
            digits, _ = await call.channel.read_digits(last, max_digits=1,
                                                       timeout_s=LANGUAGE_WAIT_S)
            key = digits[:1] or None
    if key is not None and key in valid:
        call.language = languages[int(key) - 1]
