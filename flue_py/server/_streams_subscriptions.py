"""The reserved subscriptions API (`{root}/__ds/subscriptions/...`): wake a consumer when streams change.

A subscription links streams (explicitly, or by a glob `pattern` where `*` is one path segment and
`**` any number) and remembers an acknowledged offset per stream. When a linked stream has data past
its acked offset and no wake is outstanding, the server opens a *wake*: a new generation, a wake id
and a callback token. A `webhook` subscription POSTs the wake (signed with Ed25519, see the JWKS) to
its URL; a `pull-wake` subscription appends a wake event to its `wake_stream` and a worker `claim`s it.
Acks carry the wake id and generation, so a stale worker is fenced (409 FENCED). A wake holds a lease
of `lease_ttl_ms`; when it lapses the wake is dropped and reopened if work is still pending.

State is in memory (like the reference server): subscriptions do not survive a restart.
The HTTP side is in `_streams_subscription_routes.py`.
"""

from __future__ import annotations

import asyncio
import hashlib
import ipaddress
import json
import logging
import random
import secrets
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote, urlsplit

from flue_py.exceptions import StoreError
from flue_py.server._streams_context import StreamsContext
from flue_py.server._streams_signing import Signer
from flue_py.sessions.base import ZERO_OFFSET

logger = logging.getLogger("flue_py.server.streams")

BEFORE_FIRST = "-1"
DEFAULT_LEASE_MS = 30_000
MIN_LEASE_MS = 1_000
MAX_LEASE_MS = 600_000
MAX_RETRY_SECONDS = 60.0


class SubscriptionError(Exception):
    """Answered as `{"error": {"code", "message", ...}}` with `status`."""

    def __init__(self, status: int, code: str, message: str, **extra: Any) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.extra = extra


def glob_match(pattern: str, path: str) -> bool:
    pat = [p for p in pattern.strip("/").split("/") if p]
    parts = [p for p in path.strip("/").split("/") if p]

    def match(i: int, j: int) -> bool:
        while i < len(pat) and j < len(parts):
            if pat[i] == "**":
                return any(match(i + 1, k) for k in range(j, len(parts) + 1))
            if pat[i] != "*" and pat[i].replace("%2A", "*").replace("%2a", "*") != parts[j]:
                return False
            i += 1
            j += 1
        while i < len(pat) and pat[i] == "**":
            i += 1
        return i == len(pat) and j == len(parts)

    return match(0, 0)


def check_webhook_url(url: str) -> None:
    """http only to localhost / 127.x (development); https never to private, link-local or IPv6 hosts."""
    parts = urlsplit(url)
    host = (parts.hostname or "").lower()
    if parts.scheme not in ("http", "https") or not host:
        raise SubscriptionError(400, "WEBHOOK_URL_REJECTED", "webhook.url must be an http(s) URL")
    loopback = host == "localhost" or host.startswith("127.")
    if parts.scheme == "http":
        if not loopback:
            raise SubscriptionError(400, "WEBHOOK_URL_REJECTED", "http webhooks are only allowed to localhost")
        return
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        if host == "localhost":
            raise SubscriptionError(400, "WEBHOOK_URL_REJECTED", "localhost webhooks must use http") from None
        return
    if address.version == 6 or address.is_private or address.is_link_local or address.is_loopback:
        raise SubscriptionError(400, "WEBHOOK_URL_REJECTED", "webhook.url must not target a private host")


@dataclass
class Link:
    path: str
    kinds: set[str]
    acked: str


@dataclass
class Subscription:
    id: str
    type: str
    config_hash: str
    origin: str
    """scheme://host of the request that created it: callback URLs point back there."""
    pattern: str | None = None
    webhook_url: str | None = None
    wake_stream: str | None = None
    lease_ttl_ms: int = DEFAULT_LEASE_MS
    description: str | None = None
    created_at: str = ""
    status: str = "active"
    links: dict[str, Link] = field(default_factory=dict)
    generation: int = 0
    wake_id: str | None = None
    snapshot: dict[str, str] = field(default_factory=dict)
    token: str | None = None
    holder: str | None = None
    lease: asyncio.TimerHandle | None = None
    retry: asyncio.TimerHandle | None = None
    retries: int = 0


def parse_config(body: Any) -> dict[str, Any]:
    if not isinstance(body, dict):
        raise SubscriptionError(400, "INVALID_REQUEST", "body must be a JSON object")
    kind = body.get("type")
    if kind not in ("webhook", "pull-wake"):
        raise SubscriptionError(400, "INVALID_REQUEST", "type must be webhook or pull-wake")
    streams = body.get("streams", [])
    pattern = body.get("pattern")
    if not isinstance(streams, list) or not all(isinstance(s, str) and s.strip("/") for s in streams):
        raise SubscriptionError(400, "INVALID_REQUEST", "streams must be a list of stream paths")
    if pattern is not None and (not isinstance(pattern, str) or not pattern.strip("/")):
        raise SubscriptionError(400, "INVALID_REQUEST", "pattern must be a non-empty glob")
    if pattern is None and not streams:
        raise SubscriptionError(400, "INVALID_REQUEST", "give a pattern or a list of streams")
    lease = body.get("lease_ttl_ms", DEFAULT_LEASE_MS)
    if isinstance(lease, bool) or not isinstance(lease, int) or not MIN_LEASE_MS <= lease <= MAX_LEASE_MS:
        raise SubscriptionError(400, "INVALID_REQUEST", f"lease_ttl_ms must be {MIN_LEASE_MS}..{MAX_LEASE_MS}")
    webhook = body.get("webhook")
    url = webhook.get("url") if isinstance(webhook, dict) else None
    if kind == "webhook":
        if not isinstance(url, str):
            raise SubscriptionError(400, "INVALID_REQUEST", "webhook subscriptions need webhook.url")
        check_webhook_url(url)
    wake_stream = body.get("wake_stream")
    if kind == "pull-wake" and (not isinstance(wake_stream, str) or not wake_stream.strip("/")):
        raise SubscriptionError(400, "INVALID_REQUEST", "pull-wake subscriptions need wake_stream")
    description = body.get("description")
    config = {
        "type": kind,
        "pattern": pattern,
        "streams": sorted({s.strip("/") for s in streams}),
        "webhook": {"url": url} if kind == "webhook" else None,
        "wake_stream": wake_stream.strip("/") if isinstance(wake_stream, str) else None,
        "lease_ttl_ms": lease,
        "description": description if isinstance(description, str) else None,
    }
    config["hash"] = hashlib.sha256(json.dumps(config, sort_keys=True).encode()).hexdigest()
    return config


class Subscriptions:
    """All subscriptions of one server process, driven by the stream handlers' append/delete events."""

    def __init__(self, ctx: StreamsContext) -> None:
        self.ctx = ctx
        self.signer = Signer()
        self._subs: dict[str, Subscription] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self._client: Any = None
        self._closing = False
        ctx.on_append.append(self._on_append)
        ctx.on_delete.append(self._on_delete)

    # -- plumbing --------------------------------------------------------------------------------

    def _spawn(self, coro: Any) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def shutdown(self) -> None:
        self._closing = True
        for sub in self._subs.values():
            self._clear_timers(sub)
        for task in list(self._tasks):
            task.cancel()
        if self._client is not None:
            await self._client.aclose()

    def _clear_timers(self, sub: Subscription) -> None:
        for handle in (sub.lease, sub.retry):
            if handle is not None:
                handle.cancel()
        sub.lease = sub.retry = None

    def url(self, sub: Subscription, suffix: str) -> str:
        return f"{sub.origin}{self.ctx.prefix}/__ds/{suffix}"

    async def _tail(self, path: str) -> str:
        try:
            info = await self.ctx.store.head(path)
        except StoreError:
            return ZERO_OFFSET
        return info.next_offset if info else ZERO_OFFSET

    async def stream_infos(self, sub: Subscription) -> list[dict[str, Any]]:
        infos = []
        for link in list(sub.links.values()):
            tail = await self._tail(link.path)
            infos.append(
                {
                    "path": link.path,
                    "link_type": "explicit" if "explicit" in link.kinds else "glob",
                    "acked_offset": link.acked,
                    "tail_offset": tail,
                    "has_pending": tail > link.acked,
                }
            )
        return infos

    async def serialize(self, sub: Subscription) -> dict[str, Any]:
        body: dict[str, Any] = {
            "id": sub.id,
            "subscription_id": sub.id,
            "type": sub.type,
            "pattern": sub.pattern,
            "streams": [
                {k: info[k] for k in ("path", "link_type", "acked_offset")} for info in await self.stream_infos(sub)
            ],
            "lease_ttl_ms": sub.lease_ttl_ms,
            "created_at": sub.created_at,
            "status": sub.status,
            "description": sub.description,
        }
        if sub.webhook_url is not None:
            body["webhook"] = {
                "url": sub.webhook_url,
                "signing": {"alg": "ed25519", "kid": self.signer.kid, "jwks_url": self.url(sub, "jwks.json")},
            }
        if sub.wake_stream is not None:
            body["wake_stream"] = sub.wake_stream
        return body

    # -- lifecycle -------------------------------------------------------------------------------

    async def create(self, sub_id: str, body: Any, origin: str) -> tuple[Subscription, bool]:
        config = parse_config(body)
        existing = self._subs.get(sub_id)
        if existing is not None:
            if existing.config_hash != config["hash"]:
                raise SubscriptionError(409, "SUBSCRIPTION_ALREADY_EXISTS", "a different subscription has this id")
            return existing, False
        sub = Subscription(
            id=sub_id,
            type=config["type"],
            config_hash=config["hash"],
            origin=origin,
            pattern=config["pattern"],
            webhook_url=(config["webhook"] or {}).get("url"),
            wake_stream=config["wake_stream"],
            lease_ttl_ms=config["lease_ttl_ms"],
            description=config["description"],
            created_at=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        )
        for path in config["streams"]:
            self._link(sub, path, "explicit", await self._tail(path))
        if sub.pattern is not None:
            for info in await self.ctx.store.list_streams("", limit=10_000):
                if not info.path.startswith("__ds/") and glob_match(sub.pattern, info.path):
                    self._link(sub, info.path, "glob", info.next_offset)
        self._subs[sub_id] = sub
        return sub, True

    def get(self, sub_id: str) -> Subscription:
        sub = self._subs.get(sub_id)
        if sub is None:
            raise SubscriptionError(404, "SUBSCRIPTION_NOT_FOUND", f"no subscription {sub_id!r}")
        return sub

    def delete(self, sub_id: str) -> None:
        sub = self.get(sub_id)
        self._clear_timers(sub)
        del self._subs[sub_id]

    async def add_streams(self, sub_id: str, paths: Any) -> None:
        sub = self.get(sub_id)
        if not isinstance(paths, list) or not all(isinstance(p, str) and p.strip("/") for p in paths):
            raise SubscriptionError(400, "INVALID_REQUEST", "streams must be a list of stream paths")
        for path in paths:
            self._link(sub, path.strip("/"), "explicit", await self._tail(path.strip("/")))

    def remove_stream(self, sub_id: str, path: str) -> None:
        sub = self.get(sub_id)
        link = sub.links.get(path.strip("/"))
        if link is not None:
            link.kinds.discard("explicit")
            if not link.kinds:
                del sub.links[link.path]

    @staticmethod
    def _link(sub: Subscription, path: str, kind: str, acked: str) -> None:
        link = sub.links.get(path)
        if link is None:
            sub.links[path] = Link(path, {kind}, acked)
        else:
            link.kinds.add(kind)

    def _on_append(self, path: str) -> None:
        if self._closing or not self._subs or path.startswith("__ds/"):
            return
        self._spawn(self._appended(path))

    def _on_delete(self, path: str) -> None:
        for sub in self._subs.values():
            sub.links.pop(path, None)

    async def _appended(self, path: str) -> None:
        for sub in list(self._subs.values()):
            if sub.pattern is not None and glob_match(sub.pattern, path):
                self._link(sub, path, "glob", BEFORE_FIRST)
            if path in sub.links and sub.wake_id is None and sub.holder is None:
                await self._wake_if_pending(sub, path)

    # -- wakes -----------------------------------------------------------------------------------

    async def _wake_if_pending(self, sub: Subscription, trigger: str | None = None) -> bool:
        pending = [info for info in await self.stream_infos(sub) if info["has_pending"]]
        if not pending or sub.wake_id is not None:
            return False
        await self._open_wake(sub, trigger or pending[0]["path"])
        return True

    async def _open_wake(self, sub: Subscription, trigger: str) -> None:
        sub.generation += 1
        sub.wake_id = "wake_" + secrets.token_hex(8)
        infos = await self.stream_infos(sub)
        sub.snapshot = {info["path"]: info["tail_offset"] for info in infos}
        if sub.type == "webhook":
            sub.token = self.signer.token(self._subject(sub), sub.generation)
            self._extend_lease(sub)
            self._spawn(self._deliver(sub, sub.wake_id))
            return
        await self._write_wake_event(sub, trigger)

    def _subject(self, sub: Subscription) -> str:
        return f"subscription:{sub.id}"

    async def _write_wake_event(self, sub: Subscription, trigger: str) -> None:
        assert sub.wake_stream is not None
        event = {
            "type": "wake",
            "subscription_id": sub.id,
            "stream": trigger,
            "generation": sub.generation,
            "ts": int(time.time() * 1000),
        }
        try:
            await self.ctx.store.append(sub.wake_stream, [json.dumps(event).encode()], content_type="application/json")
        except StoreError as exc:
            logger.warning("subscriptions: cannot write wake to %r: %s", sub.wake_stream, exc)

    async def _deliver(self, sub: Subscription, wake_id: str) -> None:
        if sub.webhook_url is None or sub.wake_id != wake_id or sub.token is None:
            return
        body = json.dumps(
            {
                "subscription_id": sub.id,
                "wake_id": wake_id,
                "generation": sub.generation,
                "streams": await self.stream_infos(sub),
                "callback_url": self.url(sub, f"subscriptions/{quote(sub.id, safe='')}/callback"),
                "callback_token": sub.token,
            }
        )
        headers = {"content-type": "application/json", "webhook-signature": self.signer.signature_header(body)}
        try:
            if self._client is None:
                import httpx  # only webhooks need an HTTP client

                self._client = httpx.AsyncClient(timeout=10.0)
            response = await self._client.post(sub.webhook_url, content=body, headers=headers)
        except Exception as exc:  # noqa: BLE001 - any failure of the receiver: retry with backoff
            logger.warning("subscriptions: webhook to %s failed: %s", sub.webhook_url, exc)
            self._schedule_retry(sub, wake_id)
            return
        if response.status_code >= 300:
            self._schedule_retry(sub, wake_id)
            return
        sub.status, sub.retries = "active", 0
        try:
            reply = response.json()
        except ValueError:
            reply = None
        if isinstance(reply, dict) and reply.get("done") is True and sub.wake_id == wake_id:
            for path, tail in sub.snapshot.items():
                if path in sub.links:
                    sub.links[path].acked = tail
            await self._finish_wake(sub)

    def _schedule_retry(self, sub: Subscription, wake_id: str) -> None:
        if self._closing or sub.id not in self._subs:
            return
        sub.retries += 1
        sub.status = "failed"
        delay = min(2 ** (sub.retries - 1), MAX_RETRY_SECONDS) * random.uniform(0.8, 1.2)
        if sub.retry is not None:
            sub.retry.cancel()
        loop = asyncio.get_running_loop()
        sub.retry = loop.call_later(delay, lambda: self._spawn(self._deliver(sub, wake_id)))

    def _extend_lease(self, sub: Subscription) -> None:
        if sub.lease is not None:
            sub.lease.cancel()
        wake_id = sub.wake_id
        loop = asyncio.get_running_loop()
        sub.lease = loop.call_later(sub.lease_ttl_ms / 1000, lambda: self._spawn(self._lease_lapsed(sub, wake_id)))

    async def _lease_lapsed(self, sub: Subscription, wake_id: str | None) -> None:
        if sub.wake_id == wake_id and sub.id in self._subs:
            await self._finish_wake(sub)

    async def _finish_wake(self, sub: Subscription) -> bool:
        """Drop the current wake; open the next one if work is pending. Returns whether it did."""
        if sub.lease is not None:
            sub.lease.cancel()
            sub.lease = None
        sub.token = sub.holder = sub.wake_id = None
        sub.snapshot = {}
        return await self._wake_if_pending(sub)

    # -- consumer calls --------------------------------------------------------------------------

    async def _check_wake(self, sub: Subscription, token: str | None, request: Any) -> dict[str, Any]:
        if not isinstance(request, dict):
            raise SubscriptionError(400, "INVALID_REQUEST", "body must be a JSON object")
        error, epoch = self.signer.check_token(token or "", self._subject(sub))
        if error is not None:
            raise SubscriptionError(401, error, "token expired" if error == "TOKEN_EXPIRED" else "token invalid")
        stale = epoch != sub.generation or request.get("generation") != sub.generation
        if stale or request.get("wake_id") != sub.wake_id or sub.wake_id is None:
            raise SubscriptionError(409, "FENCED", "this wake generation is stale")
        return request

    async def _apply_acks(self, sub: Subscription, acks: Any) -> None:
        if acks is None:
            return
        if not isinstance(acks, list):
            raise SubscriptionError(400, "INVALID_REQUEST", "acks must be a list")
        checked: list[tuple[Link, str]] = []
        for ack in acks:
            path = str((ack or {}).get("stream") or (ack or {}).get("path") or "").strip("/")
            offset = (ack or {}).get("offset")
            link = sub.links.get(path)
            if link is None or not isinstance(offset, str):
                raise SubscriptionError(409, "INVALID_OFFSET", "ack names a stream this subscription does not hold")
            if offset == BEFORE_FIRST or offset < link.acked:
                raise SubscriptionError(409, "INVALID_OFFSET", "ack offset regresses the committed cursor")
            if offset > await self._tail(path):
                raise SubscriptionError(409, "INVALID_OFFSET", "ack offset is beyond the stream's tail")
            checked.append((link, offset))
        for link, offset in checked:
            link.acked = offset

    async def ack(self, sub_id: str, token: str | None, request: Any, *, pull: bool) -> dict[str, Any]:
        sub = self.get(sub_id)
        if pull and sub.type != "pull-wake":
            raise SubscriptionError(400, "INVALID_REQUEST", "this subscription is not pull-wake")
        body = await self._check_wake(sub, token, request)
        await self._apply_acks(sub, body.get("acks"))
        self._extend_lease(sub)
        next_wake = await self._finish_wake(sub) if body.get("done") is True else False
        return {"ok": True, "next_wake": next_wake}

    async def claim(self, sub_id: str, worker: Any) -> dict[str, Any]:
        sub = self.get(sub_id)
        if sub.type != "pull-wake":
            raise SubscriptionError(400, "INVALID_REQUEST", "this subscription is not pull-wake")
        if not isinstance(worker, str) or not worker:
            raise SubscriptionError(400, "INVALID_REQUEST", "worker must be a non-empty string")
        if sub.holder is not None:
            raise SubscriptionError(
                409, "ALREADY_CLAIMED", "another worker holds this wake", current_holder=sub.holder,
                generation=sub.generation,
            )  # fmt: skip
        infos = await self.stream_infos(sub)
        pending = [info for info in infos if info["has_pending"]]
        if not pending:
            raise SubscriptionError(409, "NO_PENDING_WORK", "nothing to do")
        if sub.wake_id is None:
            await self._open_wake(sub, pending[0]["path"])
        sub.holder = worker
        sub.token = self.signer.token(self._subject(sub), sub.generation)
        self._extend_lease(sub)
        return {
            "wake_id": sub.wake_id,
            "generation": sub.generation,
            "token": sub.token,
            "streams": await self.stream_infos(sub),
            "lease_ttl_ms": sub.lease_ttl_ms,
        }

    async def release(self, sub_id: str, token: str | None, request: Any) -> None:
        sub = self.get(sub_id)
        if sub.type != "pull-wake":
            raise SubscriptionError(400, "INVALID_REQUEST", "this subscription is not pull-wake")
        await self._check_wake(sub, token, request)
        await self._finish_wake(sub)
