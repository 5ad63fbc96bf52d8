"""Call flows, registered by the name Asterisk sends in ``agi_network_script``."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from ivr.core.call_control import CallControl
from ivr.core.ports import Deps
from ivr.flows import participation, prompt_record, report, status, tax
from ivr.flows.common import Outcome, line_for

Flow = Callable[[CallControl, Deps], Awaitable[Outcome]]
Route = Callable[[CallControl], Awaitable[Outcome]]

async def by_number(channel: CallControl, deps: Deps) -> Outcome:
    """``agi://…/line``: the dialled number picks the line, and the line its flow, so a
    number an admin adds needs no dialplan change (the catch-all extension sends it)."""
    line = await line_for(channel, deps, None)
    return await REGISTRY[line.config.flow.value](channel, deps)


REGISTRY: dict[str, Flow] = {
    "report": report.run,
    "status": status.run,
    "tax": tax.run,
    "participation": participation.run,
}
ROUTES: dict[str, Flow] = {**REGISTRY, "line": by_number, "prompt_record": prompt_record.run}


def routes(deps: Deps) -> dict[str, Route]:
    """Each flow bound to its dependencies, as the AGI server wants them."""

    def bind(flow: Flow) -> Route:
        async def route(channel: CallControl) -> Outcome:
            return await flow(channel, deps)

        route.__name__ = getattr(flow, "__module__", "flow")
        return route

    return {name: bind(flow) for name, flow in ROUTES.items()}
