"""The console's words, Spanish first, English second."""

from __future__ import annotations

LANGUAGES = ("es", "en")

TEXT: dict[str, tuple[str, str]] = {
    "app": ("Alerta · Centro de mando", "Alerta · Command center"),
    "login": ("Ingresar", "Log in"),
    "logout": ("Salir", "Log out"),
    "user": ("Usuario", "User"),
    "password": ("Contraseña", "Password"),
    "login_bad": ("Usuario o contraseña incorrectos.", "Wrong user name or password."),
    "login_locked": (
        "Cuenta bloqueada por intentos fallidos. Intente más tarde o pida ayuda"
        " a un administrador.",
        "Account locked after failed attempts. Try later or ask an administrator.",
    ),
    "queue": ("Cola", "Queue"),
    "search": ("Buscar", "Search"),
    "new_report": ("Nuevo reporte", "New report"),
    "users": ("Usuarios", "Users"),
    "supervision": ("Supervisión", "Supervision"),
    "open_reports": ("reportes abiertos", "open reports"),
    "type": ("Tipo", "Type"),
    "where": ("Zona / dirección", "Zone / address"),
    "caller": ("Número", "Caller"),
    "clip": ("Audio", "Clip"),
    "received": ("Recibido", "Received"),
    "callback_due": ("Devolver llamada", "Call back within"),
    "overdue": ("vencido", "overdue"),
    "state": ("Estado", "State"),
    "in_call": ("en llamada", "caller on line"),
    "incomplete": ("incompleto", "incomplete"),
    "empty_queue": ("No hay reportes abiertos.", "No open reports."),
    "live": ("en vivo", "live"),
    "offline": ("sin conexión", "offline"),
    "ami": ("Telefonía", "Telephony"),
    "report": ("Reporte", "Report"),
    "history": ("Historial", "History"),
    "notes": ("Notas", "Notes"),
    "add_note": ("Agregar nota", "Add note"),
    "call_back": ("Devolver llamada", "Call back"),
    "retry": ("Reintentar", "Retry"),
    "reserve": ("Tomar la llamada", "Take this callback"),
    "release": ("Liberar", "Release"),
    "reserved_by": ("Tomado por", "Taken by"),
    "lapsed": ("reserva vencida: disponible", "reservation lapsed: anyone's"),
    "acknowledge": ("Confirmar recepción", "Acknowledge"),
    "dispatch": ("Despachar", "Dispatch"),
    "unit": ("Unidad", "Unit"),
    "on_scene": ("En el lugar", "On scene"),
    "resolve": ("Resolver", "Resolve"),
    "false_report": ("Falso", "False report"),
    "duplicate": ("Duplicado de", "Duplicate of"),
    "location": ("Ubicación", "Location"),
    "transcript": ("Transcripción", "Transcript"),
    "earlier_reports": ("Reportes anteriores del mismo número", "Earlier reports from this number"),
    "callbacks": ("Llamadas de vuelta", "Callbacks"),
    "no_clip": ("Sin audio.", "No recording."),
    "channel": ("Canal", "Channel"),
    "summary": ("Descripción", "What happened"),
    "priority": ("Prioridad", "Priority"),
    "zone": ("Zona", "Zone"),
    "address": ("Dirección", "Address"),
    "save": ("Guardar", "Save"),
    "words": ("Palabras", "Words"),
    "since": ("Desde", "From"),
    "until": ("Hasta", "To"),
    "any": ("todos", "any"),
    "older": ("Más antiguos", "Older"),
    "no_results": ("Sin resultados.", "No results."),
    "role": ("Rol", "Role"),
    "extension": ("Anexo (teléfono)", "Extension (phone)"),
    "active": ("Activo", "Active"),
    "add_user": ("Crear usuario", "Add user"),
    "keys_help": (
        "j/k mover · Enter abrir · Espacio reproducir · c devolver llamada · "
        "a confirmar · d despachar · r resolver · n nota · / buscar · Esc cola",
        "j/k move · Enter open · Space play · c call back · a acknowledge · "
        "d dispatch · r resolve · n note · / search · Esc queue",
    ),
    "state.received": ("recibido", "received"),
    "state.acknowledged": ("confirmado", "acknowledged"),
    "state.dispatched": ("despachado", "dispatched"),
    "state.on_scene": ("en el lugar", "on scene"),
    "state.resolved": ("resuelto", "resolved"),
    "state.false_report": ("falso", "false report"),
    "state.duplicate": ("duplicado", "duplicate"),
    "overdue_callbacks": ("Devoluciones vencidas", "Overdue callbacks"),
    "transcription_off": ("Transcripción desactivada.", "Transcription is off."),
    "language": ("English", "Español"),
    "forbidden": ("No tiene permiso para esto.", "You are not allowed to do this."),
    "not_found": ("No encontrado.", "Not found."),
}


def translate(key: str, language: str) -> str:
    pair = TEXT.get(key)
    if pair is None:
        return key
    return pair[1] if language == "en" else pair[0]
