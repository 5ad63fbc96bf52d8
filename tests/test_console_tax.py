"""The tax line's audit page (/tax/lookups) through the real console over HTTP: who may
see it, what it shows (never a code), filters and pages, and lifting a block (CSRF,
audited, only the session's municipality's)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

from ivr.config import Settings
from ivr.core.tax import Crossing, Lookup
from ivr.domain.roles import Role
from ivr.store.municipalities import Municipalities
from ivr.store.tax import TaxStore
from ivr.store.users import Users
from tests.console_util import PASSWORD, Site, console_site

# SQLite only: the tax store runs on both engines in test_tax; this is its page.

OWES = "20100000004"


async def _lookups(site: Site, municipality: int = 1, count: int = 3) -> None:
    store, now = TaxStore(site.console.db), datetime.now(UTC)
    for n in range(count):
        await store.record(Lookup(municipality, now - timedelta(minutes=count - n),
                                  f"98765432{n}", f"call-{n}", "tax v1", OWES,
                                  "no_match" if n % 2 else "found"), lambda _c: [])
    await store.record(
        Lookup(municipality, now, "955000111", "call-x", "tax v1", None, "invalid_id"),
        lambda _c: [Crossing("caller", "955000111", "failures_per_hour", 6, 6,
                             now + timedelta(hours=1))])


async def test_supervisors_and_admins_see_the_audit_others_get_403(settings: Settings) -> None:
    async with console_site(settings) as site:
        await _lookups(site)
        await Users(site.console.db).add("olga", Role.OFFICER, PASSWORD)
        await Users(site.console.db).add("mateo", Role.ANALYST, PASSWORD)
        for name, allowed in (("sofia", True), ("root", True), ("ana", False),
                              ("mateo", False), ("olga", False)):
            async with site.browser() as b:
                assert (await b.login(name)).status == 302
                response = await b.get("/tax/lookups", headers={"Accept": "text/html"})
                assert response.status == (200 if allowed else 403), name
                if allowed:
                    text = await response.text()
                    assert text.count('data-lookup="') == 4 and OWES in text
                    assert 'data-value="955000111" data-active="yes"' in text
                    assert 'href="/tax/lookups"' in text  # in the header, for them


async def test_filters_and_pages(settings: Settings) -> None:
    async with console_site(settings) as site, site.browser() as b:
        await _lookups(site, count=60)
        await b.login("sofia")
        first = await (await b.get("/tax/lookups")).text()
        assert first.count('data-lookup="') == 50 and 'id="older"' in first
        older = first.split('id="older" href="')[1].split('"')[0].replace("&amp;", "&")
        rest = await (await b.get(older)).text()
        assert rest.count('data-lookup="') == 11 and 'id="older"' not in rest
        found = await (await b.get("/tax/lookups?result=found&caller=987654322")).text()
        assert found.count('data-lookup="') == 1
        today = datetime.now(UTC).date()
        dated = await (await b.get(f"/tax/lookups?from={today - timedelta(days=1)}"
                                   f"&to={today + timedelta(days=1)}&tax_id={OWES}")).text()
        assert dated.count('data-lookup="') == 50
        past = await (await b.get("/tax/lookups?to=2020-01-01")).text()
        assert 'data-lookup="' not in past
        for bad in ("?result=maybe", "?tax_id=123", "?caller=abc", "?from=ayer"):
            assert (await b.get("/tax/lookups" + bad)).status == 400, bad


async def test_lifting_a_block_needs_the_token_and_is_audited(settings: Settings) -> None:
    async with console_site(settings) as site, site.browser() as b:
        await _lookups(site)
        await b.login("sofia")
        form = {"kind": "caller", "value": "955000111"}
        assert (await b.post("/tax/blocks/lift", form, csrf=False)).status == 403
        store = TaxStore(site.console.db)
        assert await store.block_until(1, "caller", "955000111", datetime.now(UTC))
        lifted = await b.post("/tax/blocks/lift", form)
        assert lifted.status == 303 and lifted.headers["Location"] == "/tax/lookups"
        assert await store.block_until(1, "caller", "955000111", datetime.now(UTC)) is None
        (event,) = await site.console.db.fetchall(
            "SELECT actor, data FROM events WHERE kind = 'tax.block_lifted'")
        assert event["actor"] == "user:sofia" and json.loads(event["data"])["who"] == "******111"
        assert (await b.post("/tax/blocks/lift", form)).status == 404  # nothing in force
        assert (await b.post("/tax/blocks/lift", {"kind": "name", "value": "x"})).status == 400
        page = await (await b.get("/tax/lookups")).text()
        assert 'data-active="no"' in page


async def test_another_municipalitys_block_is_no_block_here(settings: Settings) -> None:
    async with console_site(settings) as site, site.browser() as b:
        await Municipalities(site.console.db).add("san-isidro", "San Isidro", "America/Lima",
                                                  actor="test")
        await _lookups(site, municipality=2)
        await b.login("sofia")  # of municipality 1
        response = await b.post("/tax/blocks/lift", {"kind": "caller", "value": "955000111"})
        assert response.status == 404
        assert await TaxStore(site.console.db).block_until(2, "caller", "955000111",
                                                           datetime.now(UTC))
        assert 'data-lookup="' not in await (await b.get("/tax/lookups")).text()
