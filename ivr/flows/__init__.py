"""Call flows, registered by the name Asterisk sends in ``agi_network_script``."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from ivr.channel import Channel
from ivr.flows import report, status
from ivr.flows.common import Outcome
from ivr.flows.deps import Deps

Flow = Callable[[Channel, Deps], Awaitable[Outcome]]
Route = Callable[[Channel], Awaitable[Outcome]]

REGISTRY: dict[str, Flow] = {
    "report": report.run,
    "status": status.run,
}


def routes(deps: Deps) -> dict[str, Route]:
    """Each flow bound to its dependencies, as the AGI server wants them."""

    def bind(flow: Flow) -> Route:
        async def route(channel: Channel) -> Outcome:
            return await flow(channel, deps)

        route.__name__ = getattr(flow, "__module__", "flow")
        return route

    return {name: bind(flow) for name, flow in REGISTRY.items()}
