"""The file adapter: accounts imported from the tax system's nightly file.

The bill's code is kept only as HMAC-SHA256 under a key of this deployment, over the
municipality, the ID and the code: a copy of the database alone does not let anyone
try codes offline. The key comes from ``ALERTA_TAX_KEY`` or from the file the
``tax_key_file`` setting names; the first import writes that file (0600) when it is
missing. Changing the key makes every stored hash wrong until the next import.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import os
import secrets
from pathlib import Path

from ivr.core.records import StoreError
from ivr.core.tax import BackendAnswer, BackendUnavailable
from ivr.store.tax import TaxStore

logger = logging.getLogger(__name__)

KEY_ENV = "ALERTA_TAX_KEY"
KEY_BYTES = 32
_UNKNOWN = "0" * 64  # compared against when the ID has no account: the same work either way


class TaxKeyMissing(Exception):
    """No key to check codes with: lookups are unavailable until one exists."""


class SecretHasher:
    """HMAC-SHA256 of (municipality, ID, code) under the deployment's key."""

    def __init__(self, key: bytes) -> None:
        if len(key) < 16:
            raise ValueError("the tax key must be at least 16 bytes")
        self._key = key

    def __repr__(self) -> str:
        return "SecretHasher(<key hidden>)"

    def digest(self, municipality: int, tax_id: str, secret: str) -> str:
        message = f"{municipality}\x1f{tax_id}\x1f{secret}".encode()
        return hmac.new(self._key, message, hashlib.sha256).hexdigest()

    def matches(self, municipality: int, tax_id: str, secret: str, stored: str) -> bool:
        return hmac.compare_digest(self.digest(municipality, tax_id, secret), stored)


def read_key(key_file: Path, env: dict[str, str] | None = None) -> bytes | None:
    """The key from the environment, else from ``key_file``; None when neither has one."""
    environ = os.environ if env is None else env
    if environ.get(KEY_ENV):
        return environ[KEY_ENV].encode()
    try:
        text = key_file.read_text(encoding="ascii").strip()
    except FileNotFoundError:
        return None
    return bytes.fromhex(text)


def ensure_key(key_file: Path, env: dict[str, str] | None = None) -> bytes:
    """The key; when there is none, a new random one written to ``key_file`` (0600)."""
    key = read_key(key_file, env)
    if key is not None:
        return key
    key_file.parent.mkdir(parents=True, exist_ok=True)
    new = secrets.token_bytes(KEY_BYTES)
    # O_EXCL: two imports started together do not each write their own key.
    try:
        fd = os.open(key_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return ensure_key(key_file, env)
    with os.fdopen(fd, "w", encoding="ascii") as out:
        out.write(new.hex() + "\n")
    logger.warning("tax: a new key was written to %s (readable by its owner only); keep "
                   "it with the backups, the imported codes cannot be checked without it",
                   key_file)
    return new


class FileBackend:
    """Implements ``ivr.core.tax.TaxBackend`` over the imported tables."""

    def __init__(self, store: TaxStore, key_file: Path, env: dict[str, str] | None = None
                 ) -> None:
        self.store = store
        self.key_file = key_file
        self._env = env
        self._hasher: SecretHasher | None = None

    def _key(self) -> SecretHasher:
        if self._hasher is None:
            try:
                key = read_key(self.key_file, self._env)
                if key is None:
                    raise BackendUnavailable(f"no tax key ({KEY_ENV} or {self.key_file}): "
                                             "nothing was imported yet")
                self._hasher = SecretHasher(key)
            except (OSError, ValueError) as exc:
                raise BackendUnavailable(f"tax key unusable: {exc}") from None
        return self._hasher

    async def account(self, municipality: int, tax_id: str, secret: str) -> BackendAnswer:
        hasher = self._key()
        try:
            stored = await self.store.account(municipality, tax_id)
        except StoreError as exc:
            raise BackendUnavailable(f"store: {exc}") from None
        ok = hasher.matches(municipality, tax_id, secret,
                            stored.secret_hash if stored else _UNKNOWN)
        if stored is None:
            return BackendAnswer(found=False)
        if not ok:
            return BackendAnswer(found=True, secret_ok=False)
        return BackendAnswer(found=True, secret_ok=True, debts=stored.debts)
