"""Keys and tokens for the reserved subscriptions API: Ed25519 webhook signatures, HMAC wake tokens.

Keys live in memory for the life of the process (as subscriptions do): a restart publishes a new JWKS.
`cryptography` is imported here and nowhere else in the server.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import time
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _b64url_decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class Signer:
    """One Ed25519 key for webhook bodies and one HMAC key for callback tokens."""

    def __init__(self) -> None:
        self._private = Ed25519PrivateKey.generate()
        self.kid = "ds_" + secrets.token_hex(8)
        self._token_key = secrets.token_bytes(32)

    def jwks(self) -> dict[str, Any]:
        public = self._private.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
        key = {"kty": "OKP", "crv": "Ed25519", "x": b64url(public), "kid": self.kid, "alg": "EdDSA", "use": "sig"}
        return {"keys": [key]}

    def signature_header(self, body: str, now: float | None = None) -> str:
        """`Webhook-Signature: t=<unix>,kid=<kid>,ed25519=<base64url(sign("<t>.<body>"))>`."""
        timestamp = int(time.time() if now is None else now)
        signature = self._private.sign(f"{timestamp}.{body}".encode())
        return f"t={timestamp},kid={self.kid},ed25519={b64url(signature)}"

    def token(self, subject: str, epoch: int, ttl_seconds: int = 3600) -> str:
        payload = {"sub": subject, "epoch": epoch, "exp": int(time.time()) + ttl_seconds, "jti": secrets.token_hex(8)}
        encoded = b64url(json.dumps(payload, separators=(",", ":")).encode())
        mac = hmac.new(self._token_key, encoded.encode(), hashlib.sha256).digest()
        return f"{encoded}.{b64url(mac)}"

    def check_token(self, token: str, subject: str) -> tuple[str | None, int | None]:
        """(error code or None, the token's epoch)."""
        encoded, sep, mac = token.partition(".")
        if not sep:
            return "TOKEN_INVALID", None
        expected = b64url(hmac.new(self._token_key, encoded.encode(), hashlib.sha256).digest())
        if not hmac.compare_digest(mac, expected):
            return "TOKEN_INVALID", None
        try:
            payload = json.loads(_b64url_decode(encoded))
        except ValueError:
            return "TOKEN_INVALID", None
        if not isinstance(payload, dict) or payload.get("sub") != subject:
            return "TOKEN_INVALID", None
        if int(time.time()) > int(payload.get("exp", 0)):
            return "TOKEN_EXPIRED", None
        epoch = payload.get("epoch")
        return None, epoch if isinstance(epoch, int) else None
