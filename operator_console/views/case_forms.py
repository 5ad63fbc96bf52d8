"""A case that came at the counter or by e-mail, entered by hand (officers, supervisors,
admins): kind, area, subject, and how to reach the citizen. ``Participation.enter``
checks it and sets the deadline; its receipt (the case number and the due date) is what
the counter reads out or writes back."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from ivr.core.participation import CaseRefused
from ivr.domain.municipalities import number_of
from ivr.domain.roles import Role
from operator_console.render import language_of, page
from operator_console.security import municipality_id, requires, session_of
from operator_console.views.case_text import refusal, translator
from operator_console.views.cases import labels_of, participation_of

INTAKES = ("counter", "email")
FIELDS = {"kind": 48, "area": 48, "intake": 16, "subject": 4000, "phone": 20, "name": 120,
          "email": 254}


async def _form(request: web.Request, *, status: int = 200, values: dict[str, str] | None = None,
                error: str = "", receipt: dict[str, Any] | None = None) -> web.Response:
    areas, kinds = await labels_of(request)
    return page(request, "case_new.html", status=status, areas=areas, kinds=kinds,
                intakes=INTAKES, values=values or {"intake": "counter"}, error=error,
                receipt=receipt, cx=translator(language_of(request)))


@requires(Role.OFFICER)
async def new_form(request: web.Request) -> web.Response:
    return await _form(request)


@requires(Role.OFFICER)
async def create(request: web.Request) -> web.Response:
    form = await request.post()
    values = {name: (str(form.get(name, "")).strip()[:limit]) for name, limit in FIELDS.items()}
    language = language_of(request)
    if values["intake"] not in INTAKES:
        return await _form(request, status=400, values=values,
                           error=refusal("pick counter or e-mail", language))
    try:
        receipt = await participation_of(request).enter(
            municipality=municipality_id(request), kind=values["kind"], area=values["area"],
            intake=values["intake"], subject=values["subject"],
            caller=values["phone"] or None, contact_name=values["name"] or None,
            contact_email=values["email"] or None, actor=session_of(request).user.actor,
            language=language)
    except CaseRefused as exc:
        return await _form(request, status=400, values=values,
                           error=refusal(str(exc), language))
    done = {"report": receipt.report, "number": number_of(receipt.report),
            "due_on": receipt.due_on.isoformat()}
    return await _form(request, receipt=done)
