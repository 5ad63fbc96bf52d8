"""The words of the silent-alarm pages (board, sites and devices, responsible use),
Spanish first; the store's refusals in Spanish. The header's and the history's words are
in ``operator_console.i18n``."""

from __future__ import annotations

import re
from collections.abc import Callable

from ivr.domain.alarms import KINDS

TEXT: dict[str, tuple[str, str]] = {
    "board": ("Alarmas silenciosas", "Silent alarms"),
    "board_empty": ("Ninguna alarma abierta.", "No open alarm."),
    "open_alarms": ("alarmas abiertas", "open alarms"),
    "site": ("Negocio", "Business"),
    "address": ("Dirección", "Address"),
    "zone": ("Zona", "Zone"),
    "panel_zone": ("zona del panel", "panel zone"),
    "signals": ("Señales recibidas", "Signals received"),
    "since": ("Desde", "Since"),
    "state": ("Estado", "State"),
    "contact": ("Contacto", "Contact"),
    "device": ("Equipo", "Device"),
    "position": ("Posición", "Position"),
    "no_position": ("sin posición", "no position"),
    "map": ("Mapa de alarmas abiertas", "Map of open alarms"),
    "map_desc": ("Zonas de la municipalidad y los negocios con alarma abierta",
                 "The municipality's zones and the businesses with an open alarm"),
    "off_map": ("fuera del mapa", "off the map"),
    "take": ("Tomar", "Take"),
    "open": ("Abrir", "Open"),
    "taken": ("tomada", "taken"),
    "responsible": ("Uso responsable", "Responsible use"),
    "sites_devices": ("Sitios y equipos", "Sites and devices"),
    # sites and devices
    "sites": ("Negocios", "Businesses"),
    "no_sites": ("Ningún negocio registrado.", "No business registered."),
    "add_site": ("Agregar negocio", "Add business"),
    "add_device": ("Agregar equipo", "Add device"),
    "name": ("Nombre", "Name"),
    "lat": ("Latitud", "Latitude"),
    "lon": ("Longitud", "Longitude"),
    "contact_name": ("Contacto (nombre)", "Contact (name)"),
    "contact_phone": ("Contacto (celular)", "Contact (phone)"),
    "kind": ("Tipo", "Kind"),
    "kind.dc09": ("DC-09 (IP)", "DC-09 (IP)"),
    "kind.webhook": ("Webhook (POS)", "Webhook (POS)"),
    "kind.contact_id": ("Contact ID (teléfono)", "Contact ID (phone)"),
    "account": ("Cuenta / id", "Account / id"),
    "key": ("Clave (se escribe una vez; no se vuelve a mostrar)",
            "Key (typed once; never shown again)"),
    "has_key": ("con clave", "key set"),
    "no_key": ("sin clave", "no key"),
    "poll_s": ("Sondeo cada (s)", "Polls every (s)"),
    "not_supervised": ("sin supervisión", "not supervised"),
    "time_zone": ("Huso horario del panel", "Panel's time zone"),
    "tolerance_s": ("Tolerancia del reloj (s)", "Clock tolerance (s)"),
    "link": ("Enlace", "Link"),
    "link.ok": ("en línea", "up"),
    "link.lost": ("perdido", "lost"),
    "link.unknown": ("sin datos", "not heard yet"),
    "last_seen": ("Última señal", "Last heard"),
    "last_test": ("Última prueba", "Last test"),
    "never": ("nunca", "never"),
    "inactive": ("desactivado", "deactivated"),
    "deactivate": ("Desactivar", "Deactivate"),
    "no_devices": ("sin equipos", "no devices"),
    "import": ("Importar CSV", "Import CSV"),
    "import_help": ("Columnas: {cols}. Una línea por equipo; las líneas con el mismo nombre y"
                    " dirección son un mismo negocio. Todo o nada: un error en una línea no"
                    " importa ninguna.",
                    "Columns: {cols}. One line per device; lines with the same name and"
                    " address are one business. All or nothing: an error on any line imports"
                    " none."),
    "import_file": ("Archivo CSV", "CSV file"),
    "import_text": ("o pegue el CSV", "or paste the CSV"),
    "imported": ("Importado: {sites} negocios y {devices} equipos.",
                 "Imported: {sites} businesses and {devices} devices."),
    "import_refused": ("No se importó nada:", "Nothing was imported:"),
    "changes": ("Cambios recientes", "Recent changes"),
    # responsible use
    "this_month": ("Este mes", "This month"),
    "last_month": ("Mes pasado", "Last month"),
    "false_alarms": ("falsas alarmas", "false alarms"),
    "alarms": ("alarmas", "alarms"),
    "by_device": ("Por equipo", "By device"),
    "by_business": ("Por negocio y mes (falsas / alarmas)",
                    "By business and month (false / alarms)"),
    "most_false": ("Equipos con más falsas alarmas (12 meses)",
                   "Devices with the most false alarms (12 months)"),
    "longest_losses": ("Pérdidas de enlace más largas (12 meses)",
                       "Longest link losses (12 months)"),
    "lost_at": ("Perdido", "Lost"),
    "restored_at": ("Restablecido", "Restored"),
    "still_lost": ("sigue perdido", "still lost"),
    "duration": ("Duración", "Duration"),
    "none": ("Nada que mostrar.", "Nothing to show."),
    "false_hint": ("Una falsa alarma es un reporte de alarma cerrado como «falso».",
                   "A false alarm is an alarm report closed as 'false report'."),
}

# The store's refusals (``AlarmAdminError``), in Spanish.
ERRORS: dict[str, str] = {
    "a site needs the business's name": "un negocio necesita su nombre",
    "a position is a latitude and a longitude": "una posición es una latitud y una longitud",
    "a zone is its code (letters and digits)": "una zona es su código (letras y dígitos)",
    "a device is dc09, webhook or contact_id": "un equipo es dc09, webhook o contact_id",
    "a device needs its account or id": "un equipo necesita su cuenta o id",
    "tolerance 5 s to 24 h; polls every 10 s to 24 h":
        "tolerancia de 5 s a 24 h; sondeo cada 10 s a 24 h",
    "unknown time zone (e.g. America/Lima)": "huso horario desconocido (p. ej. America/Lima)",
    "a Contact ID dialler has no key": "un discador Contact ID no tiene clave",
    "a DC-09 key is 32, 48 or 64 hexadecimal digits (AES)":
        "una clave DC-09 tiene 32, 48 o 64 dígitos hexadecimales (AES)",
    "a whsec_ secret is base64 after the prefix": "un secreto whsec_ es base64 tras el prefijo",
    "a webhook secret has at least 16 bytes": "un secreto de webhook tiene al menos 16 bytes",
    "a contact's phone is 6 to 15 digits": "el celular del contacto tiene de 6 a 15 dígitos",
    "no such site here": "no existe ese negocio aquí",
    "lat is not a number": "la latitud no es un número",
    "lon is not a number": "la longitud no es un número",
    "poll_s is not a number": "el sondeo no es un número",
    "tolerance_s is not a number": "la tolerancia no es un número",
    "more fields than columns": "más campos que columnas",
    "no sites in the file": "el archivo no tiene negocios",
    "pick the business": "elija el negocio",
    "not an alarm report here": "no es un reporte de alarma de aquí",
}
_LINE = re.compile(r"line (\d+): (.*)")
_EXISTS = re.compile(r"a (\w+) device (.+) exists already")
_SAME = re.compile(r"the same device as line (\d+)")
_MISSING = re.compile(r"missing columns (.+)")


def translator(language: str) -> Callable[[str], str]:
    def ax(key: str) -> str:
        pair = TEXT.get(key)
        if pair is None:
            return key
        return pair[1] if language == "en" else pair[0]

    return ax


def refusal(message: str, language: str) -> str:
    """A store refusal (one, or a line's) in the viewer's language."""
    if language == "en":
        return message
    line = _LINE.fullmatch(message)
    if line:
        return f"línea {line.group(1)}: {refusal(line.group(2), language)}"
    if found := _EXISTS.fullmatch(message):
        return f"ya existe un equipo {found.group(1)} {found.group(2)}"
    if found := _SAME.fullmatch(message):
        return f"el mismo equipo que la línea {found.group(1)}"
    if found := _MISSING.fullmatch(message):
        return f"faltan las columnas {found.group(1)}"
    return ERRORS.get(message, message)


def kind_words(kind: str, language: str) -> str:
    """What a signal of ``kind`` means, in plain words."""
    _, es, en = KINDS.get(kind, KINDS["other"])
    return en if language == "en" else es


def duration(seconds: float) -> str:
    minutes = int(seconds // 60)
    days, rest = divmod(minutes, 24 * 60)
    hours, minutes = divmod(rest, 60)
    if days:
        return f"{days} d {hours} h"
    return f"{hours} h {minutes:02d} min" if hours else f"{minutes} min"
