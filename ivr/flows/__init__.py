"""Call flows, registered by the name Asterisk sends in ``agi_network_script``."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from ivr.core.call_control import CallControl
from ivr.core.ports import Deps
from ivr.flows import report, status
from ivr.flows.common import Outcome

Flow = Callable[[CallControl, Deps], Awaitable[Outcome]]
Route = Callable[[CallControl], Awaitable[Outcome]]

REGISTRY: dict[str, Flow] = {
    "report": report.run,
    "status": status.run,
}


def routes(deps: Deps) -> dict[str, Route]:
    """Each flow bound to its dependencies, as the AGI server wants them."""

    def bind(flow: Flow) -> Route:
        async def route(channel: CallControl) -> Outcome:
            return await flow(channel, deps)

        route.__name__ = getattr(flow, "__module__", "flow")
        return route

    return {name: bind(flow) for name, flow in REGISTRY.items()}
