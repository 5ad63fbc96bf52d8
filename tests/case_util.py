"""A published participation line for the console's citizen-services tests: three kinds
(complaint 30, suggestion 30, query 10 business days) and two areas (cleaning answers
complaints in 15)."""

from __future__ import annotations

import dataclasses
from typing import Any

from ivr.domain.lines import LineConfig
from tests.console_util import Site


def participation_config(municipality: int = 1) -> LineConfig:
    return LineConfig.from_dict({
        "slug": f"participa_{municipality}", "name": "Participación vecinal",
        "flow": "participation", "numbers": [f"18000{municipality}"], "languages": ["es", "en"],
        "types": [
            {"id": "complaint", "priority": 5, "answer_days": 30,
             "labels": {"es": "Reclamo", "en": "Complaint"}},
            {"id": "suggestion", "priority": 5, "answer_days": 30,
             "labels": {"es": "Sugerencia", "en": "Suggestion"}},
            {"id": "query", "priority": 5, "answer_days": 10,
             "labels": {"es": "Consulta", "en": "Query"}},
        ],
        "areas": [
            {"id": "cleaning", "key": "1", "days": {"complaint": 15},
             "labels": {"es": "Limpieza pública", "en": "Street cleaning"}},
            {"id": "parks", "key": "2", "labels": {"es": "Parques y jardines", "en": "Parks"}},
        ],
    })


async def publish_participation_line(site: Site, municipality: int = 1) -> LineConfig:
    """Created and made live as it is (the audio checks of a publish are not the point)."""
    lines = site.console.lines
    assert lines is not None
    config = participation_config(municipality)
    # The default participation line seeded on start (1237) is this one's next version,
    # so these kinds and areas are the municipality's only ones.
    seeded = [r for r in await lines.store.all(municipality) if r.flow == "participation"]
    if seeded:
        config = dataclasses.replace(config, slug=seeded[0].slug)
        await lines.store.publish(seeded[0].id, config, actor="test")
        return config
    line = await lines.create(config, actor="test", municipality=municipality)
    await lines.store.publish(line, config, actor="test")
    return config


def row(found: Any) -> dict[str, Any]:
    assert found is not None
    return dict(found)
