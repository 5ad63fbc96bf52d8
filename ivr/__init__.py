"""alerta-ivr: telephony-first citizen incident reporting."""

__version__ = "0.1.0"
