"""The public page, its API and Open311 GeoReport v2: counts and zones, nothing personal."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

from ivr.config import Settings
from ivr.core.ports import Location, NewReport
from ivr.domain.clips import ClipInfo
from ivr.domain.reports import ReportState
from ivr.domain.roles import Intake
from ivr.store.casework import Casework, ManualReport
from ivr.store.reports import Reports
from tests.console_util import Site, console_site

CALLER = "987650321"
NOTE = "vecino del 3B sospecha de su cuñado"
SUMMARY = "llamó la señora Quispe desde su celular"
ADDRESS = "Calle Berlín 1234, dpto 501"
LAT, LON = -12.121734, -77.030158
CLIP = "2024/01/10/call-secret-t1.wav"
SECRETS = (CALLER, "987 650 321", NOTE, SUMMARY, "Quispe", ADDRESS, "Berlín", "12.12173",
           "77.03015", "call-secret", ".wav")


async def _seed(site: Site) -> dict[str, int]:
    db = site.console.db
    old = datetime.now(UTC).replace(minute=37, second=12, microsecond=0) - timedelta(days=3)
    out = {}
    reports = Reports(db, lambda: old, {})
    out["robbery"] = await reports.open_report(NewReport(
        type_id="robbery", priority=2, emergency=False, language="es", call_id="c-1",
        caller_id_raw=CALLER, caller=CALLER))
    await reports.set_location(out["robbery"], Location("5", ADDRESS, LAT, LON, "directory"))
    await reports.attach_clip(out["robbery"], 1, ClipInfo(CLIP, 12.5, 100_000, "ab" * 32))
    casework = Casework(db, lambda: old + timedelta(minutes=9), {})
    await casework.add_note(out["robbery"], "user:ana", NOTE)
    await casework.change_state(out["robbery"], ReportState.ACKNOWLEDGED, "user:ana", note=NOTE)
    await casework.change_state(out["robbery"], ReportState.RESOLVED, "user:ana")
    manual = Casework(db, lambda: old - timedelta(days=1), {})
    out["noise"] = await manual.file_manual(ManualReport(
        type_id="noise", priority=5, channel=Intake.COUNTER, summary=SUMMARY, caller=CALLER,
        zone="5", address=ADDRESS), "user:ana")
    fresh = Reports(db, lambda: datetime.now(UTC), {})
    out["fresh"] = await fresh.open_report(NewReport(
        type_id="accident", priority=2, emergency=False, language="es", call_id="c-2",
        caller_id_raw=CALLER, caller=CALLER))
    return out


async def _get(site: Site, path: str) -> tuple[int, bytes, Any]:
    async with site.browser() as anon:
        response = await anon.get(path)
        return response.status, await response.read(), response.headers


def _clean(body: bytes) -> None:
    text = body.decode("utf-8")
    for secret in SECRETS:
        assert secret not in text, secret


async def test_nothing_personal_leaves_through_any_public_answer(settings: Settings) -> None:
    async with console_site(settings) as site:
        ids = await _seed(site)
        for path in ("/public/municipalidad", "/public/api/summary.json",
                     "/open311/v2/services.json",
                     "/open311/v2/requests.json", f"/open311/v2/requests/{ids['robbery']}.json",
                     "/open311/v2/requests.json?status=closed&service_code=robbery,noise"):
            status, body, headers = await _get(site, path)
            assert status == 200, path
            _clean(body)
            assert headers["Access-Control-Allow-Origin"] == "*"


async def test_summary_counts_and_response_times(settings: Settings) -> None:
    async with console_site(settings) as site:
        await _seed(site)
        status, body, _ = await _get(site, "/public/api/summary.json")
        data = json.loads(body)
        assert status == 200 and data["reports"] == 2  # the fresh report is not public yet
        by_type = {t["service_code"]: t["reports"] for t in data["by_type"]}
        assert by_type == {"robbery": 1, "noise": 1}
        assert [z["zone"] for z in data["by_zone"]] == ["5"]
        assert data["response"]["confirmed_as_real"] == 1.0
        assert data["response"]["first_action_median_minutes"] is not None
        html = (await _get(site, "/public/municipalidad"))[1].decode()
        assert "<svg" in html and "Zona 5" in html and "<script" not in html


async def test_open311_requests_follow_georeport_v2(settings: Settings) -> None:
    async with console_site(settings) as site:
        ids = await _seed(site)
        status, body, headers = await _get(site, "/open311/v2/requests.json")
        assert status == 200 and headers["Content-Type"].startswith("application/json")
        found = json.loads(body)
        assert [r["service_request_id"] for r in found] == [str(ids["robbery"]),
                                                            str(ids["noise"])]
        robbery = found[0]
        assert robbery["status"] == "closed" and robbery["service_code"] == "robbery"
        assert robbery["service_name"] == robbery["description"] == "Robo o asalto"
        assert robbery["address"] == "Zona 5"
        assert robbery["requested_datetime"].endswith(":00:00-05:00")  # the hour, Lima time
        assert (robbery["lat"], robbery["long"]) != (round(LAT, 4), round(LON, 4))
        assert -12.14 < robbery["lat"] < -12.09 and -77.06 < robbery["long"] < -77.0
        assert set(robbery) <= {"service_request_id", "status", "status_notes", "service_name",
                                "service_code", "description", "requested_datetime",
                                "updated_datetime", "address", "lat", "long"}
        one = json.loads((await _get(site, f"/open311/v2/requests/{ids['noise']}.json"))[1])
        assert len(one) == 1 and one[0]["status"] == "open"
        for missing in (ids["fresh"], 999999, "abc"):
            status, body, _ = await _get(site, f"/open311/v2/requests/{missing}.json")
            assert status == 404 and json.loads(body)[0]["code"] == 404


async def test_open311_filters_and_pages(settings: Settings) -> None:
    async with console_site(settings) as site:
        ids = await _seed(site)

        async def ids_of(query: str) -> list[int]:
            status, body, _ = await _get(site, f"/open311/v2/requests.json?{query}")
            assert status == 200, (query, body)
            return [int(r["service_request_id"]) for r in json.loads(body)]

        assert await ids_of("service_code=noise") == [ids["noise"]]
        assert await ids_of("status=open") == [ids["noise"]]
        assert await ids_of("status=closed") == [ids["robbery"]]
        day = (datetime.now(UTC) - timedelta(days=3)).date()
        assert await ids_of(f"start_date={day}T00:00:00Z") == [ids["robbery"]]
        assert await ids_of(f"end_date={day}T00:00:00Z") == [ids["noise"]]
        assert await ids_of("page_size=1&page=2") == [ids["noise"]]
        assert await ids_of(f"service_request_id={ids['noise']},{ids['fresh']}") == [ids["noise"]]


async def test_bad_open311_queries_get_georeport_errors(settings: Settings) -> None:
    async with console_site(settings) as site:
        for query in ("start_date=2024-01-01T00:00:00Z&end_date=2024-06-01T00:00:00Z",
                      "start_date=yesterday", "status=pending", "service_code=arson",
                      "page_size=5000", "page=0", "service_request_id=1;DROP"):
            status, body, _ = await _get(site, f"/open311/v2/requests.json?{query}")
            assert status == 400, query
            error = json.loads(body)
            assert error[0]["code"] == 400 and error[0]["description"]


async def test_services_list_every_incident_type(settings: Settings) -> None:
    async with console_site(settings) as site:
        status, body, _ = await _get(site, "/open311/v2/services.json")
        assert status == 200
        services = json.loads(body)
        # (besides the citizens' cases of the participation line: "<kind>.<area>")
        codes = [s["service_code"] for s in services if "." not in s["service_code"]]
        assert set(codes) == {t.id for t in settings.keypad.types} | {"operator"}
        assert all(s["metadata"] is False and s["type"] == "realtime" for s in services)


async def test_public_pages_can_be_turned_off(settings: Settings) -> None:
    async with console_site(settings, public_pages=False) as site:
        for path in ("/public", "/public/municipalidad", "/public/api/summary.json",
                     "/open311/v2/services.json",
                     "/open311/v2/requests.json", "/open311/v2/requests/1.json"):
            assert (await _get(site, path))[0] == 404, path


async def test_with_no_delay_a_fresh_report_is_public(settings: Settings) -> None:
    async with console_site(settings, public_delay_hours=0) as site:
        ids = await _seed(site)
        status, body, _ = await _get(site, f"/open311/v2/requests/{ids['fresh']}.json")
        assert status == 200 and json.loads(body)[0]["status"] == "open"


async def test_with_one_municipality_jurisdiction_id_is_optional_but_checked(
        settings: Settings) -> None:
    """GeoReport v2: an endpoint of one jurisdiction may leave jurisdiction_id out; one it
    does not serve is an error in the spec's list form, never someone else's data."""
    async with console_site(settings) as site:
        ids = await _seed(site)
        plain = await _get(site, "/open311/v2/requests.json")
        named = await _get(site, "/open311/v2/requests.json?jurisdiction_id=municipalidad")
        assert plain[0] == named[0] == 200 and json.loads(plain[1]) == json.loads(named[1])
        one = await _get(site, f"/open311/v2/requests/{ids['robbery']}.json"
                               "?jurisdiction_id=municipalidad")
        assert one[0] == 200 and json.loads(one[1])[0]["service_code"] == "robbery"
        for path in ("/open311/v2/services.json?jurisdiction_id=lince",
                     "/open311/v2/requests.json?jurisdiction_id=lince",
                     f"/open311/v2/requests/{ids['robbery']}.json?jurisdiction_id=lince",
                     "/public/api/summary.json?municipality=lince"):
            status, body, _ = await _get(site, path)
            assert status == 400, path
            assert json.loads(body) == [{"code": 400, "description": "no municipality 'lince'"
                                                                     " here"}]
        # A number past any municipality's range is as unknown as any other.
        for number in (10_000_000_000, 1_000_000_000_000_000):
            status, body, _ = await _get(site, f"/open311/v2/requests/{number}.json")
            assert status == 404 and json.loads(body)[0]["code"] == 404
        status, _, headers = await _get(site, "/public")
        assert status == 302 and headers["Location"] == "/public/municipalidad"
