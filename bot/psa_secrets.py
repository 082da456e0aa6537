"""PSA credentials at rest: Fernet (AES-128-CBC + HMAC-SHA256) keyed by FLOWPILOT_SECRET_KEY.

The secret is encrypted before it is stored and decrypted only to build a connector; it is never logged,
returned by a route, or printed by `psa list`.
"""

from __future__ import annotations

from cryptography.fernet import Fernet, InvalidToken

from .errors import NotConfigured

MAKE_KEY = 'python -c "from cryptography.fernet import Fernet; print(Fernet.generate_key().decode())"'
NO_KEY = (
    "FLOWPILOT_SECRET_KEY is not set: PSA credentials are stored encrypted with it. Make one with\n"
    f"  {MAKE_KEY}\n"
    "and set it (keep it safe: without it the stored credentials cannot be read)."
)
BAD_KEY = (
    "FLOWPILOT_SECRET_KEY is not a Fernet key (32 url-safe base64-encoded bytes). Make one with\n"
    f"  {MAKE_KEY}"
)
WRONG_KEY = (
    "This PSA connection's credentials were stored with another FLOWPILOT_SECRET_KEY: set that key again, "
    "or remove the connection and add it anew."
)


class SecretBox:
    """Encrypts and decrypts connection secrets with one key."""

    def __init__(self, key: str | None) -> None:
        self._fernet: Fernet | None = None
        self._problem: str | None = NO_KEY if not key else None
        if key:
            try:
                self._fernet = Fernet(key.encode())
            except (ValueError, TypeError):
                self._problem = BAD_KEY

    def _box(self) -> Fernet:
        if self._fernet is None:
            raise NotConfigured(self._problem or NO_KEY)
        return self._fernet

    @property
    def problem(self) -> str | None:
        """Why secrets cannot be stored or read (no key, a malformed key); None when they can."""
        return self._problem

    def seal(self, secret: str) -> bytes:
        return self._box().encrypt(secret.encode())

    def open(self, sealed: bytes) -> str:
        try:
            return self._box().decrypt(sealed).decode()
        except InvalidToken:
            raise NotConfigured(WRONG_KEY) from None
