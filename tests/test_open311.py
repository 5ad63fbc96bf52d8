"""Open311 GeoReport v2 with API keys: the municipality's website files complaints,
suggestions and queries (``POST requests.json``) and follows them; refusals as the spec
answers them; nothing personal comes back; a key works in its own municipality only."""

from __future__ import annotations

import hashlib
import json
from typing import Any

import pytest

from ivr.analytics import dashboard
from ivr.config import Settings
from ivr.core.open311 import RateLimit
from ivr.domain.business_days import Calendar, due_date
from ivr.domain.municipalities import number_of, report_id
from ivr.store.municipalities import Municipalities
from tests.case_util import publish_participation_line, row
from tests.console_util import Site, console_site

pytestmark = pytest.mark.store  # runs on SQLite and on PostgreSQL

BASE = "/open311/v2"
PHONE, EMAIL = "987654321", "rosa.quispe@example.org"
SECRETS = (PHONE, "987 654 321", EMAIL, "Rosa", "Quispe", "Calle Berlín 1234",
           "basura frente al 1234")


async def _key(site: Site, municipality: int = 1, name: str = "web") -> tuple[int, str]:
    desk = site.console.open311
    assert desk is not None
    return await desk.make_key(municipality, name, actor="test")


async def _post(site: Site, data: Any, **kw: Any) -> tuple[int, Any]:
    async with site.browser() as client:
        response = await client.client.post(f"{BASE}/requests.json", data=data, **kw)
        body = await response.read()
        return response.status, json.loads(body) if body else None


async def _get(site: Site, path: str, **kw: Any) -> tuple[int, Any]:
    async with site.browser() as client:
        response = await client.client.get(path, **kw)
        return response.status, json.loads(await response.read())


def _complaint(key: str, **extra: str) -> dict[str, str]:
    return {"api_key": key, "service_code": "complaint.cleaning",
            "description": "Dejan basura frente al 1234 cada noche", **extra}


async def test_services_are_each_kind_for_each_area(settings: Settings) -> None:
    async with console_site(settings) as site:
        await publish_participation_line(site)
        _, key = await _key(site)
        status, services = await _get(site, f"{BASE}/services.json?api_key={key}")
        assert status == 200
        cases = {s["service_code"]: s for s in services if "." in s["service_code"]}
        assert sorted(cases) == ["complaint.cleaning", "complaint.parks", "query.cleaning",
                                 "query.parks", "suggestion.cleaning", "suggestion.parks"]
        assert cases["complaint.cleaning"] == {
            "service_code": "complaint.cleaning", "service_name": "Reclamo · Limpieza pública",
            "description": "Reclamo · Limpieza pública (respuesta en 15 días hábiles)",
            "metadata": False, "type": "realtime", "keywords": "complaint",
            "group": "Limpieza pública"}
        assert cases["query.parks"]["group"] == "Parques y jardines"
        # The public list (no key) offers them too, beside the incident types.
        status, public = await _get(site, f"{BASE}/services.json")
        assert status == 200 and {s["service_code"] for s in public} >= set(cases)
        status, one = await _get(site, f"{BASE}/services/query.parks.json?api_key={key}")
        assert (status, one) == (200, {"service_code": "query.parks", "attributes": []})
        status, _ = await _get(site, f"{BASE}/services/query.roads.json?api_key={key}")
        assert status == 404


async def test_a_good_key_files_a_case_due_in_business_days(settings: Settings) -> None:
    async with console_site(settings) as site:
        await publish_participation_line(site)
        key_id, key = await _key(site)
        status, answer = await _post(site, _complaint(key, phone=PHONE, email=EMAIL,
                                                      first_name="Rosa", last_name="Quispe"))
        assert status == 200, answer
        assert len(answer) == 1 and set(answer[0]) == {"service_request_id", "service_notice",
                                                       "account_id"}
        number = int(answer[0]["service_request_id"])
        db = site.console.db
        case = row(await db.fetchone("SELECT * FROM cases WHERE report_id = ?",
                                     (report_id(1, number),)))
        assert (case["intake"], case["kind"], case["area"], case["api_key_id"]) == (
            "open311", "complaint", "cleaning", key_id)
        assert case["business_days"] == 15  # the area's own deadline for complaints
        clock = await dashboard.stored_clock(db, 1)
        today = dashboard.local_today(clock)
        assert case["received_on"] == today.isoformat()
        assert case["due_on"] == due_date(today, 15, Calendar("PE")).isoformat()
        report = row(await db.fetchone("SELECT service FROM reports WHERE id = ?",
                                       (report_id(1, number),)))
        assert report["service"] == "participation"
        used = row(await db.fetchone("SELECT last_used_at FROM open311_keys WHERE id = ?",
                                     (key_id,)))
        assert used["last_used_at"] is not None
        status, found = await _get(site, f"{BASE}/requests/{number}.json",
                                   headers={"X-Api-Key": key})
        assert status == 200 and len(found) == 1
        assert found[0]["expected_datetime"].startswith(case["due_on"] + "T")
        assert found[0]["status"] == "open"
        assert found[0]["service_code"] == "complaint.cleaning"
        assert found[0]["agency_responsible"] == "Limpieza pública"
        # JSON is tolerated as well as the spec's form encoding.
        status, again = await _post(site, json.dumps(_complaint(key)),
                                    headers={"Content-Type": "application/json"})
        assert status == 200 and int(again[0]["service_request_id"]) == number + 1


async def test_following_a_request_shows_nothing_personal(settings: Settings) -> None:
    async with console_site(settings, public_delay_hours=0) as site:
        await publish_participation_line(site)
        _, key = await _key(site)
        status, answer = await _post(site, _complaint(
            key, phone="987 654 321", email=EMAIL, first_name="Rosa", last_name="Quispe",
            address_string="Calle Berlín 1234", lat="-12.1217", long="-77.0301"))
        assert status == 200
        number = answer[0]["service_request_id"]
        for path in (f"{BASE}/requests/{number}.json?api_key={key}",
                     f"{BASE}/requests.json?service_request_id={number}&api_key={key}",
                     f"{BASE}/requests.json?api_key={key}"):
            async with site.browser() as client:
                response = await client.client.get(path)
                text = (await response.read()).decode()
            assert response.status == 200 and number in text, path
            assert [s for s in SECRETS if s in text] == [], path
            assert "12.1217" not in text and "77.0301" not in text
        # Without a key the public API knows nothing of cases.
        status, public = await _get(site, f"{BASE}/requests.json")
        assert status == 200 and public == []
        status, _ = await _get(site, f"{BASE}/requests/{number}.json")
        assert status == 404


async def test_bad_and_revoked_keys_get_the_same_403(settings: Settings) -> None:
    async with console_site(settings) as site:
        await publish_participation_line(site)
        key_id, key = await _key(site)
        desk = site.console.open311
        assert desk is not None
        assert await desk.revoke(1, key_id, actor="test")
        answers = []
        for given in (key, key[:-1] + ("A" if key[-1] != "A" else "B"), "", "a311_" + "x" * 43,
                      "nonsense"):
            status, answer = await _post(site, _complaint(given))
            answers.append((status, answer))
        assert answers == [(403, [{"code": 403, "description": "invalid api_key"}])] * 5
        count = row(await site.console.db.fetchone("SELECT count(*) AS n FROM cases"))
        assert count["n"] == 0
        status, _ = await _get(site, f"{BASE}/requests.json?api_key={key}")
        assert status == 403
        stored = row(await site.console.db.fetchone(
            "SELECT key_hash FROM open311_keys WHERE id = ?", (key_id,)))
        assert stored["key_hash"] == hashlib.sha256(key.encode()).hexdigest()


async def test_what_is_missing_or_unknown_is_a_400(settings: Settings) -> None:
    async with console_site(settings) as site:
        await publish_participation_line(site)
        _, key = await _key(site)
        cases = [
            ({"description": ""}, "description is required"),
            ({"description": "x" * 4001}, "description is longer than 4000 characters"),
            ({"service_code": "complaint.roads"}, "unknown service_code (see services.json)"),
            ({"service_code": "robbery"}, "unknown service_code (see services.json)"),
            ({"service_code": ""}, "service_code is required"),
            ({"email": "not-an-address"}, "email is not an e-mail address"),
            ({"lat": "-12.1"}, "lat and long go together"),
            ({"lat": "-91", "long": "0"}, "lat is out of range"),
            ({"media_url": "file:///etc/passwd"}, "media_url is an http or https address"),
        ]
        for change, description in cases:
            status, answer = await _post(site, {**_complaint(key), **change})
            assert (status, answer) == (400, [{"code": 400, "description": description}]), change
        status, answer = await _post(site, b"\xff\xfe", headers={
            "Content-Type": "application/x-www-form-urlencoded"})
        assert status == 400
        count = row(await site.console.db.fetchone("SELECT count(*) AS n FROM cases"))
        assert count["n"] == 0


async def test_a_huge_body_is_a_413_and_a_flood_a_429(settings: Settings) -> None:
    async with console_site(settings) as site:
        await publish_participation_line(site)
        _, key = await _key(site)
        status, answer = await _post(site, _complaint(key, description="x" * 20_000))
        assert status == 413 and answer[0]["code"] == 413
        desk = site.console.open311
        assert desk is not None
        desk.filing = RateLimit(3)
        statuses = [(await _post(site, _complaint(key, description="")))[0] for _ in range(4)]
        assert statuses == [400, 400, 400, 429]
        async with site.browser() as client:
            response = await client.client.post(f"{BASE}/requests.json", data=_complaint(key))
            assert response.status == 429 and int(response.headers["Retry-After"]) >= 1
        _, other = await _key(site, name="app")  # another key has its own allowance
        assert (await _post(site, _complaint(other)))[0] == 200


async def test_another_municipalitys_key_cannot_see_or_file_here(settings: Settings) -> None:
    async with console_site(settings) as site:
        await Municipalities(site.console.db).add("san-isidro", "San Isidro", "America/Lima",
                                                  actor="test")
        await publish_participation_line(site, 1)
        _, ours = await _key(site, 1)
        _, theirs = await _key(site, 2, "web san isidro")
        status, answer = await _post(site, _complaint(ours))
        assert status == 200
        number = answer[0]["service_request_id"]
        # Their key names numbers of their own municipality: ours is not one of them.
        status, _ = await _get(site, f"{BASE}/requests/{number}.json?api_key={theirs}")
        assert status == 404
        status, listed = await _get(site, f"{BASE}/requests.json?api_key={theirs}")
        assert (status, listed) == (200, [])
        # Their municipality has no participation line: no service to file in.
        status, answer = await _post(site, _complaint(theirs))
        assert (status, answer[0]["description"]) == (400, "unknown service_code (see"
                                                           " services.json)")
        town = await Municipalities(site.console.db).get(1)
        assert town is not None
        status, _ = await _post(site, _complaint(theirs), params={
            "jurisdiction_id": town.jurisdiction_id})
        assert status == 403
        status, _ = await _get(site, f"{BASE}/services.json?api_key={theirs}&jurisdiction_id="
                                     f"{town.jurisdiction_id}")
        assert status == 403
        count = row(await site.console.db.fetchone("SELECT count(*) AS n FROM cases"))
        assert count["n"] == 1
        mine = row(await site.console.db.fetchone("SELECT municipality_id FROM cases"))
        assert mine["municipality_id"] == 1 and number_of(report_id(1, int(number))) == int(
            number)


def test_the_rate_limit_is_a_sliding_window() -> None:
    now = [0.0]
    limit = RateLimit(2, 60.0, clock=lambda: now[0])
    assert [limit.allow(1), limit.allow(1), limit.allow(1), limit.allow(2)] == [
        True, True, False, True]
    now[0] = 59.9
    assert not limit.allow(1) and limit.retry_after(1) == 1
    now[0] = 60.0
    assert limit.allow(1)

