"""The store: SQLite through aiosqlite, one module per aggregate."""

from ivr.store.db import Database, StoreError

__all__ = ["Database", "StoreError"]
