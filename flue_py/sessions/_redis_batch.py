"""Coalesce concurrent appends into pipelined round trips (the Redis analogue of SQLite's writer thread).

Each append stays its own atomic script call; what changes is the wire: appends issued while earlier
ones are in flight go out together in one pipeline, so N concurrent writers cost a few sends and
receives instead of N each. A lone writer sees no delay: with a free slot its call goes out at once.
No redis import here: `redis.py` hands in the client and the script.
"""

from __future__ import annotations

import asyncio
from collections import deque
from typing import Any

__all__ = ["Batcher"]

_Call = tuple[list[Any], list[Any], "asyncio.Future[Any]"]


class Batcher:
    """Run `script(keys, args)` calls, at most `in_flight` round trips at a time, batching the backlog."""

    def __init__(
        self, client: Any, script: Any, *, noscript: type[Exception], in_flight: int = 4, max_batch: int = 256
    ) -> None:
        self._client = client
        self._script = script
        self._noscript = noscript
        self._slots = in_flight
        self._max_batch = max_batch
        self._queue: deque[_Call] = deque()
        self._busy = 0
        """Round trips on the wire: direct calls plus draining tasks."""
        self._tasks: set[asyncio.Task[None]] = set()

    async def call(self, keys: list[Any], args: list[Any]) -> Any:
        if self._busy < self._slots and not self._queue:
            # A free slot and no backlog: go straight out, without a task hop (the lone-writer case).
            self._busy += 1
            try:
                return await self._script(keys=keys, args=args)
            finally:
                self._busy -= 1
                self._spawn_if_needed()
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._queue.append((keys, args, future))
        self._spawn_if_needed()
        return await future

    def _spawn_if_needed(self) -> None:
        if self._queue and self._busy < self._slots:
            self._busy += 1
            task = asyncio.create_task(self._drain())
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _drain(self) -> None:
        try:
            while self._queue:
                batch: list[_Call] = []
                while self._queue and len(batch) < self._max_batch:
                    item = self._queue.popleft()
                    if not item[2].cancelled():  # the caller gave up before it was sent: don't send it
                        batch.append(item)
                if batch:
                    await self._send(batch)
        finally:
            self._busy -= 1

    async def _send(self, batch: list[_Call]) -> None:
        try:
            if len(batch) == 1:
                keys, args, _ = batch[0]
                results = [await self._script(keys=keys, args=args)]
            else:
                # Plain EVALSHA, not the Script helper: in a pipeline that helper first asks SCRIPT EXISTS,
                # a second round trip per batch. A script Redis lost (restart, SCRIPT FLUSH) answers NOSCRIPT
                # without running; those calls go again one by one, and the helper loads the script.
                async with self._client.pipeline(transaction=False) as pipe:
                    for keys, args, _ in batch:
                        pipe.evalsha(self._script.sha, len(keys), *keys, *args)
                    results = await pipe.execute(raise_on_error=False)
                for i, result in enumerate(results):
                    if isinstance(result, self._noscript):
                        keys, args, _ = batch[i]
                        try:
                            results[i] = await self._script(keys=keys, args=args)
                        except Exception as exc:  # noqa: BLE001 - handed to that call's caller below
                            results[i] = exc
        except Exception as exc:  # noqa: BLE001 - the whole round trip failed: every caller gets the error
            for _, _, future in batch:
                if not future.done():
                    future.set_exception(exc)
            return
        except BaseException:  # cancelled (the loop is closing): so are the calls waiting on us
            for _, _, future in batch:
                future.cancel()
            raise
        for (_, _, future), result in zip(batch, results, strict=True):
            if future.done():
                continue
            if isinstance(result, Exception):
                future.set_exception(result)
            else:
                future.set_result(result)

    async def close(self) -> None:
        """Let batches on the wire finish (their callers are waiting for them)."""
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
