"""A report handed over between neighbouring municipalities, through the console.

As Miraflores and San Isidro's forces did in the case study: a report about a place
across the boundary goes to the neighbour with its history and its voice clip; both
histories say so, each side sees only its own report, and nothing else moves.
"""

from __future__ import annotations

import json

import pytest

from ivr.app import services
from ivr.config import Settings
from ivr.domain.municipalities import report_id
from ivr.domain.roles import Role
from ivr.store.municipalities import Municipalities
from ivr.store.users import Users
from tests.clips_support import FIXTURES, report_with_clip
from tests.console_util import PASSWORD, console_site

pytestmark = pytest.mark.store  # runs on SQLite and on PostgreSQL


async def test_hand_over_to_a_neighbour_with_both_histories(settings: Settings) -> None:
    async with services(settings) as svc, console_site(settings, db=svc.db) as site, \
            site.browser() as ana, site.browser() as bea:
        towns = Municipalities(svc.db)
        await towns.update(1, actor="test", code="miraflores", name="Miraflores")
        san_isidro = await towns.add("san-isidro", "San Isidro", "America/Lima", actor="test")
        far = await towns.add("callao", "Callao", "America/Lima", actor="test")
        await towns.make_neighbours(1, san_isidro.id, actor="test")
        await Users(svc.db).add("bea", Role.OPERATOR, PASSWORD, municipality=san_isidro.id)
        ours = await report_with_clip(svc, FIXTURES / "ko_fire_danger.wav", caller="987650001")
        await site.console.casework.add_note(ours, "user:ana", "robo en Av. Javier Prado 1200")
        clip = await svc.db.fetchone("SELECT id FROM clips WHERE report_id = ?", (ours,))
        assert clip is not None
        await ana.login("ana")
        await bea.login("bea")

        page = await (await ana.get(f"/reports/{ours}", headers={"Accept": "text/html"})).text()
        assert f'action="/reports/{ours}/handover"' in page and "San Isidro" in page
        refused = await ana.post(f"/reports/{ours}/handover", {"to": str(far.id)})
        assert refused.status == 400  # not a neighbour
        moved = await ana.post(f"/reports/{ours}/handover",
                               {"to": str(san_isidro.id), "note": "ocurrió en San Isidro"})
        assert moved.status == 303
        theirs = report_id(san_isidro.id, 1)

        # Miraflores: closed as handed over, pointing at San Isidro's number.
        row = await site.console.queries.report(ours)
        assert row is not None and row["state"] == "handed_over"
        assert row["handed_over_to"] == theirs
        history = await site.console.queries.history(ours)
        assert history[-1]["kind"] == "report.handed_over"
        assert history[-1]["actor"] == "user:ana"
        assert history[-1]["data"] == {"to": "San Isidro", "number": 1,
                                       "note": "ocurrió en San Isidro"}
        assert [r["id"] for r in (await (await ana.get("/api/queue")).json())["reports"]] == []

        # San Isidro: a new report of its own, in its queue, with the whole history.
        queue = (await (await bea.get("/api/queue")).json())["reports"]
        assert [r["id"] for r in queue] == [theirs]
        page = await (await bea.get(f"/reports/{theirs}", headers={"Accept": "text/html"})).text()
        assert "#1" in page and "robo en Av. Javier Prado 1200" in page
        copied = await site.console.queries.history(theirs)
        assert copied[0]["kind"] == "report.received_from"
        received = copied[0]["data"]
        assert received["from"] == "Miraflores" and received["number"] == ours
        kinds = [h["kind"] for h in received["history"]]
        assert kinds[0] == "report.opened" and "report.note" in kinds
        assert "report.handed_over" not in kinds
        # The voice message plays there, once in the clip store, and the listen is audited
        # on San Isidro's report.
        audio = await bea.get(f"/reports/{theirs}/clips/{clip['id']}")
        assert audio.status == 200 and (await audio.read())[:4] == b"RIFF"
        listens = await svc.db.fetchall(
            "SELECT report_id, data FROM events WHERE kind = 'clip.listened'")
        assert [(r["report_id"], json.loads(r["data"])["clip"]) for r in listens] \
            == [(theirs, clip["id"])]
        assert (await svc.db.fetchone("SELECT count(*) FROM clips"))[0] == 1  # type: ignore[index]
        found = await bea.client.get("/reports?words=Javier", headers={"Accept": "text/html"})
        assert f'href="/reports/{theirs}"' in await found.text()

        # Each side sees only its own report; the closed one cannot go twice.
        assert (await ana.get(f"/reports/{theirs}")).status == 404
        assert (await bea.get(f"/reports/{ours}")).status == 404
        assert (await bea.get(f"/reports/{ours}/clips/{clip['id']}")).status == 404
        again = await ana.post(f"/reports/{ours}/handover", {"to": str(san_isidro.id)})
        assert again.status == 400
        back = await bea.post(f"/reports/{theirs}/handover", {"to": "1"})
        assert back.status == 303  # neighbours both ways: San Isidro may hand it back
        assert (await site.console.queries.report(theirs))["state"] == "handed_over"  # type: ignore[index]
