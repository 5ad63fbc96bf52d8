"""The words of the officers' and supervisors' case pages, Spanish first; refusals in
Spanish. The header's words are in ``operator_console.i18n``."""

from __future__ import annotations

from collections.abc import Callable

TEXT: dict[str, tuple[str, str]] = {
    "cases": ("Casos", "Cases"),
    "queue": ("Casos de atención al ciudadano", "Citizen cases"),
    "queue_help": ("Reclamos, sugerencias y consultas de sus áreas; los vencidos primero,"
                   " luego por fecha límite.",
                   "Complaints, suggestions and queries of your areas; overdue first, then by"
                   " due date."),
    "no_areas": ("No tiene áreas asignadas: pida a un administrador que le asigne una.",
                 "You have no area granted: ask an administrator to grant you one."),
    "empty": ("No hay casos con esos filtros.", "No case with those filters."),
    "case": ("Caso", "Case"),
    "kind": ("Tipo", "Kind"),
    "area": ("Área", "Area"),
    "all": ("todos", "all"),
    "all_areas": ("todas", "all"),
    "state": ("Estado", "State"),
    "state.open": ("abierto", "open"),
    "state.answered": ("respondido", "answered"),
    "state.closed": ("cerrado", "closed"),
    "due": ("Plazo", "Deadline"),
    "due.near": ("por vencer", "near the deadline"),
    "due.overdue": ("vencidos", "overdue"),
    "filter": ("Filtrar", "Filter"),
    "received": ("Recibido", "Received"),
    "due_on": ("Fecha límite", "Due on"),
    "days_left": ("días hábiles", "business days"),
    "today": ("vence hoy", "due today"),
    "late_by": ("vencido hace", "overdue by"),
    "late": ("vencido", "overdue"),
    "near": ("por vencer", "near the deadline"),
    "intake": ("Ingreso", "Intake"),
    "intake.ivr": ("teléfono", "phone"),
    "intake.counter": ("mesa de partes", "counter"),
    "intake.email": ("correo", "e-mail"),
    "intake.open311": ("web", "web"),
    "caller": ("Teléfono", "Phone"),
    "contact": ("Contacto", "Contact"),
    "subject": ("Asunto", "Subject"),
    "message": ("Mensaje del vecino", "The citizen's message"),
    "no_clip": ("Sin grabación.", "No recording."),
    "transcript": ("Transcripción automática", "Automatic transcript"),
    "original": ("descargar", "download"),
    "history": ("Historial", "History"),
    "callbacks": ("Llamadas de vuelta", "Callbacks"),
    "call_back": ("Llamar al vecino", "Call the citizen back"),
    "answer": ("Respuesta", "Answer"),
    "answer_help": ("Lo que se le dice al vecino. Queda en el caso y el vecino la oye si"
                    " llama para consultar su caso.",
                    "What the citizen is told. It stays with the case, and the citizen hears"
                    " it when calling about the case."),
    "speak": ("Leerla al vecino (se graba en voz)", "Read it to the caller (spoken into audio)"),
    "save_answer": ("Registrar respuesta", "Record the answer"),
    "answered_by": ("Respondido por", "Answered by"),
    "answer_audio": ("Respuesta en voz", "Spoken answer"),
    "close": ("Cerrar caso", "Close the case"),
    "reopen": ("Reabrir", "Reopen"),
    "reopen_reason": ("motivo", "reason"),
    "closed_by": ("Cerrado por", "Closed by"),
    "new": ("Nuevo caso", "New case"),
    "new_help": ("Un caso que llegó por mesa de partes o por correo. El plazo se cuenta en"
                 " días hábiles desde el día siguiente.",
                 "A case that came at the counter or by e-mail. The deadline counts business"
                 " days from the next day."),
    "name": ("Nombre", "Name"),
    "email": ("Correo", "E-mail"),
    "save_case": ("Registrar caso", "File the case"),
    "receipt": ("Caso registrado", "Case filed"),
    "receipt_text": ("Número de caso {number}; fecha límite de respuesta {due}.",
                     "Case number {number}; to be answered by {due}."),
    "no_lines": ("La municipalidad no tiene una línea de participación publicada.",
                 "The municipality has no published participation line."),
    "supervision": ("Supervisión de casos", "Case supervision"),
    "by_area": ("Por área", "By area"),
    "open": ("Abiertos", "Open"),
    "near_count": ("Por vencer", "Near deadline"),
    "overdue_count": ("Vencidos", "Overdue"),
    "on_time": ("Respondidos a tiempo (mes)", "Answered on time (month)"),
    "late_count": ("Respondidos tarde (mes)", "Answered late (month)"),
    "overdue_list": ("Casos vencidos", "Overdue cases"),
    "days_late": ("Días hábiles de retraso", "Business days late"),
    "none_overdue": ("Ningún caso vencido.", "No overdue case."),
    "total": ("Total", "Total"),
    "next": ("Siguiente", "Next"),
    "previous": ("Anterior", "Previous"),
    "keys": ("Teclas: j/k moverse · Enter abrir · c llamar · Espacio audio · Esc volver",
             "Keys: j/k move · Enter open · c call back · Space audio · Esc back"),
}

# Events a case's history shows in words; the rest by their kind.
EVENTS: dict[str, tuple[str, str]] = {
    "report.opened": ("caso recibido", "case received"),
    "case.answered": ("respuesta registrada", "answer recorded"),
    "case.closed": ("caso cerrado", "case closed"),
    "case.reopened": ("caso reabierto", "case reopened"),
    "case.near_deadline": ("aviso: por vencer", "warning: near the deadline"),
    "alert.case_overdue": ("vencido, escalado", "overdue, escalated"),
    "report.clip_attached": ("grabación recibida", "recording received"),
    "clip.queued": ("grabación en proceso", "recording being processed"),
    "call.ended": ("llamada terminada", "call ended"),
    "clip.listened": ("escuchado", "listened"),
    "callback.requested": ("llamada de vuelta", "callback placed"),
    "callback.updated": ("llamada de vuelta", "callback"),
}

ERRORS: dict[str, str] = {
    "pick a state": "elija un estado",
    "pick a deadline filter": "elija un filtro de plazo",
    "a page is a number": "la página es un número",
    "no such case": "no existe ese caso",
    "this case is in an area you do not answer for": "este caso es de un área que no atiende",
    "callbacks are off: no AMI secret is configured":
        "las llamadas de vuelta están desactivadas: no hay conexión AMI configurada",
    "your account has no phone extension; ask an administrator to set one":
        "su cuenta no tiene anexo telefónico; pida a un administrador que lo asigne",
    "the form is stale; reload the page": "el formulario caducó; recargue la página",
    "give the reason": "indique el motivo",
    "write the answer": "escriba la respuesta",
    "an answer is up to 4000 characters of text":
        "una respuesta tiene hasta 4000 caracteres de texto",
    "only an open case is answered": "solo se responde un caso abierto",
    "only an answered case is closed": "solo se cierra un caso respondido",
    "the case is open already": "el caso ya está abierto",
    "a supervisor does that": "eso lo hace un supervisor",
    "officers, supervisors and admins answer cases":
        "los casos los responden funcionarios, supervisores y administradores",
    "say what the case is about": "indique de qué trata el caso",
    "pick one of the municipality's areas": "elija una de las áreas de la municipalidad",
    "pick a kind of case: complaint, suggestion or query":
        "elija el tipo de caso: reclamo, sugerencia o consulta",
    "a phone number is 6 to 15 digits": "un teléfono tiene de 6 a 15 dígitos",
    "that e-mail address is not valid": "esa dirección de correo no es válida",
    "the municipality has no published participation line":
        "la municipalidad no tiene una línea de participación publicada",
    "this kind of case has no deadline set": "este tipo de caso no tiene plazo definido",
    "the text is longer than 4000 characters": "el texto pasa de 4000 caracteres",
    "the text holds control characters": "el texto tiene caracteres de control",
    "a name is up to 120 printable characters": "un nombre tiene hasta 120 caracteres",
    "pick counter or e-mail": "elija mesa de partes o correo",
}


def translator(language: str) -> Callable[[str], str]:
    def cx(key: str) -> str:
        pair = TEXT.get(key) or EVENTS.get(key)
        if pair is None:
            return key
        return pair[1] if language == "en" else pair[0]

    return cx


def refusal(message: str, language: str) -> str:
    return message if language == "en" else ERRORS.get(message, message)
