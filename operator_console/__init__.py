"""Operator console (aiohttp): built by a later issue.

The package exists now so the distribution layout is final.
"""
