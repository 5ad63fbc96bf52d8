"""Operator console (aiohttp). Built in a later issue; the package exists so the distribution layout is final."""
