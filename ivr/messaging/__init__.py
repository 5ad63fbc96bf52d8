"""Messaging transports behind ``ivr.core.messaging_ports``: SMS gateway, mail server."""
