"""The words of every text: Spanish first, no accented letters, one segment where the
wording allows (an accent makes a text UCS-2: 70 characters a segment, not 160)."""

from __future__ import annotations

import pytest

from ivr.domain import texting
from ivr.domain.alerting import CAUSES, grouped_text, staff_text
from ivr.domain.lines import IncidentType
from ivr.domain.sms import is_gsm7, segments

LONG_NAME = "Municipalidad de Miraflores"  # a long municipality name
BIG = 9_999_999_999  # the largest report number


@pytest.mark.parametrize("language", ["es", "en"])
@pytest.mark.parametrize("what", sorted(texting.TEXTS["es"]))
def test_every_citizen_text_is_gsm7_and_one_segment(what: str, language: str) -> None:
    text = texting.say(what, language, LONG_NAME, n=BIG, s="handed_over", t="robo o asalto",
                       o="1 emergencia, 2 robo o asalto, 3 actividad sospechosa, 4 ruido")
    assert is_gsm7(text), text
    assert segments(text) == 1 or what == "which_type", (len(text), text)
    assert "{" not in text


@pytest.mark.parametrize("cause", sorted(CAUSES))
def test_every_staff_alert_is_gsm7_and_one_segment(cause: str) -> None:
    _subject, body = staff_text(cause, "es", LONG_NAME, BIG, "robbery")
    assert is_gsm7(body) and segments(body) == 1, body
    grouped = grouped_text(cause, "es", LONG_NAME, list(range(BIG - 30, BIG)), 30)
    assert is_gsm7(grouped) and segments(grouped) <= 2, grouped


def test_names_lose_their_accents_but_keep_the_enye() -> None:
    assert texting.plain("Actividad sospechosa en Magdalena, Peñaloza, Ñaña: ¿qué pasó?") == (
        "Actividad sospechosa en Magdalena, Peñaloza, Ñaña: ¿que paso?")
    assert is_gsm7(texting.plain("Ruido o molestia vecinal: música alta"))


def test_a_text_is_read_forgivingly() -> None:
    types = [IncidentType("emergency", 1, True, labels={"es": "Emergencia"}),
             IncidentType("robbery", 2, labels={"es": "Robo o asalto", "en": "Robbery"}),
             IncidentType("accident", 2, labels={"es": "Accidente"}),
             IncidentType("other", 6, labels={"es": "Otro"})]
    keys = {"1": "emergency", "2": "robbery", "5": "accident", "6": "other"}
    assert texting.read("  Estado   1234 ", types, keys).number == 1234
    assert texting.read("BAJA", types, keys).kind == "stop"
    assert texting.read("stop por favor", types, keys).kind == "stop"
    assert texting.read("2 me robaron", types, keys).type_id == "robbery"
    assert texting.read("ROBÓ un celular", types, keys).type_id == "robbery"  # accents folded
    assert texting.read("hay un perro suelto", types, keys).type_id == "other"
    assert texting.read("accidente en la via expresa", types, keys).type_id == "accident"
    assert texting.read("", types, keys).kind == "empty"
    assert texting.national("+51987654321", "51") == "987654321"
    assert texting.national("987654321", "51") == "987654321"
