"""The words of the citizen-services admin pages (calendar, officers' areas, Open311 keys)
and of the monthly report, Spanish first; refusals in Spanish. The header's words are in
``operator_console.i18n``."""

from __future__ import annotations

from collections.abc import Callable

TEXT: dict[str, tuple[str, str]] = {
    # the calendar
    "calendar": ("Calendario de días no laborables", "Non-working days calendar"),
    "calendar_help": (
        "Los plazos de los reclamos, sugerencias y consultas se cuentan en días hábiles: sin"
        " sábados, domingos, feriados nacionales ni los días no laborables de la"
        " municipalidad que se registran aquí.",
        "Deadlines of complaints, suggestions and queries are counted in business days:"
        " without Saturdays, Sundays, national holidays or the municipality's own"
        " non-working days recorded here."),
    "own_days": ("Días no laborables de la municipalidad", "The municipality's non-working days"),
    "no_own_days": ("Ninguno registrado.", "None recorded."),
    "day": ("Fecha", "Date"),
    "name": ("Nombre", "Name"),
    "added_by": ("Registrado por", "Recorded by"),
    "add_day": ("Agregar día no laborable", "Add a non-working day"),
    "remove": ("Quitar", "Remove"),
    "holidays": ("Feriados nacionales (solo lectura)", "National holidays (read only)"),
    "weekend": ("fin de semana", "weekend"),
    "past": ("pasado", "past"),
    # officers
    "areas": ("Áreas que atiende", "Areas answered"),
    "save_areas": ("Guardar áreas", "Save areas"),
    "no_areas": ("La municipalidad no tiene una línea de participación publicada con áreas.",
                 "The municipality has no published participation line with areas."),
    # Open311 keys
    "open311": ("Claves Open311", "Open311 keys"),
    "open311_help": (
        "La web o la app de la municipalidad registra casos con Open311 GeoReport v2"
        " (POST /open311/v2/requests.json) usando una clave. Solo se guarda su huella: la"
        " clave se muestra una vez, al crearla.",
        "The municipality's website or app files cases through Open311 GeoReport v2"
        " (POST /open311/v2/requests.json) with a key. Only its fingerprint is kept: the"
        " key is shown once, when it is made."),
    "keys": ("Claves", "Keys"),
    "no_keys": ("Ninguna clave.", "No keys."),
    "key_name": ("Sitio o app", "Site or app"),
    "created": ("Creada", "Made"),
    "created_by": ("Por", "By"),
    "last_used": ("Último uso", "Last used"),
    "never": ("nunca", "never"),
    "revoked": ("revocada", "revoked"),
    "active": ("activa", "active"),
    "revoke": ("Revocar", "Revoke"),
    "new_key": ("Crear clave", "Make a key"),
    "key_once": ("Copie esta clave ahora: no se volverá a mostrar.",
                 "Copy this key now: it will not be shown again."),
    # the monthly report
    "report": ("Reporte mensual de atención al ciudadano", "Monthly citizen services report"),
    "month": ("Mes", "Month"),
    "show": ("Ver", "Show"),
    "csv": ("Descargar CSV", "Download CSV"),
    "area": ("Área", "Area"),
    "kind": ("Tipo", "Kind"),
    "received": ("Recibidos", "Received"),
    "on_time": ("Respondidos a tiempo", "Answered on time"),
    "late": ("Respondidos fuera de plazo", "Answered late"),
    "overdue": ("Vencidos sin respuesta", "Overdue"),
    "rate": ("A tiempo", "On time"),
    "total": ("Total", "Total"),
    "nothing": ("Ningún caso recibido ese mes.", "No case received that month."),
    "report_help": (
        "Casos recibidos en el mes, por área y tipo. «A tiempo» es la parte de los casos"
        " cuyo plazo ya venció o que fueron respondidos, respondida dentro del plazo.",
        "Cases received in the month, by area and kind. 'On time' is the share of the cases"
        " due by now or answered that were answered within the deadline."),
}

ERRORS: dict[str, str] = {
    "give the day as YYYY-MM-DD": "indique la fecha como AAAA-MM-DD",
    "give the day a name": "indique el nombre del día",
    "no such day here": "no existe ese día aquí",
    "a key needs the name of the site or app (up to 80 characters)":
        "una clave necesita el nombre del sitio o app (hasta 80 caracteres)",
    "no such key here": "no existe esa clave aquí",
    "pick a month (YYYY-MM)": "elija un mes (AAAA-MM)",
    "that area is not one of this municipality's": "esa área no es de esta municipalidad",
    "areas are for officers": "las áreas son para funcionarios",
}


def translator(language: str) -> Callable[[str], str]:
    def cx(key: str) -> str:
        pair = TEXT.get(key)
        if pair is None:
            return key
        return pair[1] if language == "en" else pair[0]

    return cx


def refusal(message: str, language: str) -> str:
    return message if language == "en" else ERRORS.get(message, message)
