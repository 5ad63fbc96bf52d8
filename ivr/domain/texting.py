"""Citizens by text message: what a text to the municipality's number asks, and the
words of every text a citizen gets. Pure: ``ivr.core.texts`` does the asking.

A text is one of:

- ``STOP`` (or BAJA, ALTO, PARAR): no more texts to this number; ``ALTA`` (or START)
  undoes it;
- ``ESTADO 1234`` (or STATUS): the state of report 1234, told only to the number that
  made it;
- anything else: a report. Its first word picks the incident type: a menu digit of
  the line ("2 robaron en el parque"), or a type's name or id ("robo ...");
  otherwise the line's catch-all type (``other``), if it has one.

Every text is kept within one segment where the wording allows: no accented letters
(they switch a text to UCS-2 and 70 characters), accents folded out of names.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date

from ivr.domain.lines import IncidentType

STOP_WORDS = frozenset({"stop", "baja", "alto", "parar", "cancelar", "unsubscribe"})
START_WORDS = frozenset({"alta", "start", "reanudar"})
STATUS_WORDS = frozenset({"estado", "status", "consulta"})
CATCH_ALL = "other"
MAX_TEXT = 1600  # ten segments: what a citizen's phone sends as one long text


@dataclass(frozen=True, slots=True)
class Request:
    kind: str  # stop | start | status | report | empty
    number: int | None = None  # status: the report number asked about
    type_id: str | None = None  # report: the incident type, None: not recognised
    summary: str = ""


def fold(text: str) -> str:
    """``text`` without accents except ñ (which GSM-7 has), lower case."""
    out = []
    for ch in text.lower():
        if ch == "ñ":
            out.append(ch)
            continue
        out.append("".join(c for c in unicodedata.normalize("NFD", ch)
                           if not unicodedata.combining(c)))
    return "".join(out)


def plain(text: str) -> str:
    """``text`` as a text message writes it: accents folded out but ñ and case kept."""
    out = []
    for ch in text:
        if ch in "ñÑ":
            out.append(ch)
            continue
        out.append("".join(c for c in unicodedata.normalize("NFD", ch)
                           if not unicodedata.combining(c)))
    return "".join(out)


def read(text: str, types: Sequence[IncidentType], digits: Mapping[str, str]) -> Request:
    """What a citizen's text asks; ``digits``: the line's menu key → type id."""
    body = " ".join(text.split())[:MAX_TEXT]
    if not body:
        return Request("empty")
    words = fold(body).split(" ")
    first = words[0].strip(".,;:!¡?¿")
    if first in STOP_WORDS and len(words) <= 3:
        return Request("stop")
    if first in START_WORDS and len(words) <= 3:
        return Request("start")
    if first in STATUS_WORDS:
        found = re.search(r"\d{1,10}", body)
        return Request("status", number=int(found.group()) if found else None)
    rest = body.split(" ", 1)[1] if " " in body else ""
    if first in digits:
        return Request("report", type_id=digits[first], summary=rest or body)
    for t in types:  # a type's id, a label, or a label's first word ("robo" of "robo o asalto")
        labels = [fold(label) for label in t.labels.values()]
        names = {fold(t.id), *labels, *(n.split(" ")[0] for n in labels if len(n) >= 3)}
        whole = fold(body)
        if first in names or any(whole == n or whole.startswith(n + " ")
                                 for n in labels if " " in n):
            return Request("report", type_id=t.id, summary=body)
    if any(t.id == CATCH_ALL for t in types):
        return Request("report", type_id=CATCH_ALL, summary=body)
    return Request("report", type_id=None, summary=body)


STATES = {
    "es": {"received": "recibido, en espera", "acknowledged": "en revision por un operador",
           "dispatched": "una unidad va en camino", "on_scene": "una unidad esta en el lugar",
           "resolved": "atendido", "false_report": "cerrado", "duplicate": "cerrado (repetido)",
           "handed_over": "derivado a otra municipalidad", "case_open": "en tramite",
           "case_answered": "tiene respuesta, llame a la linea de estado para escucharla",
           "case_closed": "cerrado"},
    "en": {"received": "received, waiting", "acknowledged": "being reviewed by an operator",
           "dispatched": "a unit is on its way", "on_scene": "a unit is on the scene",
           "resolved": "resolved", "false_report": "closed", "duplicate": "closed (duplicate)",
           "handed_over": "handed over to another municipality", "case_open": "in progress",
           "case_answered": "answered, call the status line to hear it",
           "case_closed": "closed"},
}
TEXTS = {
    "es": {
        "receipt": "{m}: su reporte {n} fue registrado. Envie ESTADO {n} para saber como va."
                   " STOP: no recibir mensajes",
        "opened": "{m}: recibimos su reporte {n} ({t}). Envie ESTADO {n} para saber como va.",
        "dispatched": "{m}: una unidad va en camino por su reporte {n}.",
        "resolved": "{m}: su reporte {n} fue atendido. Gracias por avisar.",
        "status": "{m}: reporte {n}: {s}.",
        "not_yours": "{m}: no hay un reporte {n} hecho desde este numero.",
        "status_how": "{m}: envie ESTADO y el numero de su reporte, por ejemplo ESTADO 1234.",
        "stop": "{m}: no recibira mas mensajes. Envie ALTA para volver a recibirlos.",
        "start": "{m}: volvera a recibir mensajes sobre sus reportes.",
        "which_type": "{m}: empiece su mensaje con el tipo: {o}. Luego describa que pasa.",
        "refused": "{m}: no pudimos registrar su mensaje. Llame al numero de la central.",
    },
    "en": {
        "receipt": "{m}: your report {n} is registered. Send ESTADO {n} to follow it."
                   " STOP: no more texts",
        "opened": "{m}: we got your report {n} ({t}). Send ESTADO {n} to follow it.",
        "dispatched": "{m}: a unit is on its way for your report {n}.",
        "resolved": "{m}: your report {n} was resolved. Thank you.",
        "status": "{m}: report {n}: {s}.",
        "not_yours": "{m}: there is no report {n} from this number.",
        "status_how": "{m}: send ESTADO and your report number, e.g. ESTADO 1234.",
        "stop": "{m}: you will get no more texts. Send ALTA to get them again.",
        "start": "{m}: you will get texts about your reports again.",
        "which_type": "{m}: start your text with the type: {o}. Then say what happens.",
        "refused": "{m}: we could not take your text. Please call the command center.",
    },
}


# Texts about a citizen's case (a complaint, suggestion or query): a receipt with the
# date it will be answered by, and word that the answer is ready.
CASE_TEXTS = {
    "es": {
        "case_receipt": "{m}: su {k} {n} ({a}) fue {r}. Le responderemos a mas tardar el {d}.",
        "case_answered": "{m}: su caso {n} tiene respuesta. Escuchela llamando al {l} o"
                         " pidala en la municipalidad.",
    },
    "en": {
        "case_receipt": "{m}: your {k} {n} ({a}) is registered. We will answer by {d}.",
        "case_answered": "{m}: your case {n} has an answer. Hear it by calling {l} or ask"
                         " at the municipality.",
    },
}
CASE_KINDS = {"es": {"complaint": "queja", "suggestion": "sugerencia", "query": "consulta"},
              "en": {"complaint": "complaint", "suggestion": "suggestion", "query": "query"}}
AREA_CHARS = 30  # an area's name in a text: one segment with a long municipality name


def say_case(what: str, language: str | None, municipality: str, *, n: object,
             kind: str = "", area: str = "", due: date | None = None, line: str = "") -> str:
    """A text about a citizen's case, Spanish first, accents folded out."""
    lang = language if language in CASE_TEXTS else "es"
    word = CASE_KINDS[lang].get(kind)
    female = word is not None  # queja, sugerencia, consulta; any other kind is "caso"
    fields = {"m": municipality, "n": n, "k": word or ("caso" if lang == "es" else "case"),
              "a": area.lower()[:AREA_CHARS].strip() or kind,
              "r": "registrada" if female else "registrado",
              "d": due.strftime("%d/%m/%Y") if due else "", "l": line}
    return plain(CASE_TEXTS[lang][what].format(**fields))


def say(what: str, language: str | None, municipality: str, **values: object) -> str:
    """A text to a citizen in their language (Spanish first), accents folded out."""
    texts = TEXTS.get(language or "es", TEXTS["es"])
    fields = {"m": municipality, **{k: v for k, v in values.items()}}
    if what == "status":
        state = str(values.get("s", ""))
        fields["s"] = STATES.get(language or "es", STATES["es"]).get(state, state)
    return plain(texts[what].format(**fields))


def type_menu(types: Sequence[IncidentType], digits: Mapping[str, str], language: str) -> str:
    """``1 robo, 2 ruido`` for the which-type reply, in the line's digit order."""
    named = {t.id: t for t in types}
    pairs = [f"{key} {named[tid].label(language, 'es').lower()}"
             for key, tid in sorted(digits.items()) if tid in named]
    return plain(", ".join(pairs[:9]))


def mobile(number: str | None, pattern: str) -> bool:
    """Whether texts can reach ``number`` (the deployment's pattern of mobile numbers)."""
    return bool(number) and re.fullmatch(pattern, number or "") is not None


def national(number: str, country_code: str) -> str:
    """A sender as the IVR stores callers: without the country code (``51987654321`` →
    ``987654321``), so a STOP, a status asked by text and a caller ID are one number."""
    digits = number.removeprefix("+").removeprefix("00")
    if country_code and digits.startswith(country_code) and len(digits) - len(country_code) >= 7:
        return digits[len(country_code):]
    return digits
