"""The console's words, Spanish first, English second."""

from __future__ import annotations

LANGUAGES = ("es", "en")

TEXT: dict[str, tuple[str, str]] = {
    "app": ("Alerta · Centro de mando", "Alerta · Command center"),
    "login": ("Ingresar", "Log in"),
    "logout": ("Salir", "Log out"),
    "user": ("Usuario", "User"),
    "password": ("Contraseña", "Password"),
    # One message for every refused login: it must not tell a locked account from an
    # unknown name, so it names both.
    "login_bad": (
        "Usuario o contraseña incorrectos, o cuenta bloqueada por un tiempo tras varios"
        " intentos fallidos.",
        "Wrong user name or password, or the account is locked for a while after failed"
        " attempts.",
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
    "journal_waiting": (
        "{n} reporte(s) esperan a la base de datos: están guardados en el diario y se "
        "cargarán solos cuando vuelva.",
        "{n} report(s) are waiting for the database: they are kept in the journal and will "
        "be stored by themselves when it is back.",
    ),
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
    "my_account": ("Mi cuenta", "My account"),
    "current_password": ("Contraseña actual", "Current password"),
    "new_password": ("Contraseña nueva (10 caracteres o más)", "New password (10+ characters)"),
    "again": ("Repetir", "Again"),
    "password_changed": ("Contraseña cambiada.", "Password changed."),
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
    "transcription_off": ("Transcripción desactivada", "Transcription is off"),
    "transcribing": ("Transcribiendo…", "Transcribing…"),
    "transcription_failed": ("La transcripción falló", "Transcription failed"),
    "retranscribe": ("Transcribir de nuevo", "Transcribe again"),
    "confidence": ("confianza", "confidence"),
    "waveform": ("Forma de onda del audio", "Waveform of the clip"),
    "silence": ("silencio", "silence"),
    "original": ("original", "original"),
    "clip_purged": ("Audio eliminado por la política de retención",
                    "Clip removed under the retention rules"),
    "legal_hold": ("Retención legal", "Legal hold"),
    "lift_hold": ("Levantar retención", "Lift hold"),
    "hold_reason": ("Motivo (expediente, oficio)", "Reason (case, request)"),
    "release_clips": ("Liberar audios", "Release clips"),
    "clips_released": ("Audios liberados por", "Clips released by"),
    "language": ("English", "Español"),
    "forbidden": ("No tiene permiso para esto.", "You are not allowed to do this."),
    "not_found": ("No encontrado.", "Not found."),
}


def translate(key: str, language: str) -> str:
    pair = TEXT.get(key)
    if pair is None:
        return key
    return pair[1] if language == "en" else pair[0]
