"""Server-Sent Events: what changed, sent to every open page.

Everything here runs on the server's event loop; other threads publish through
``loop.call_soon_threadsafe``.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

# Proxies and browsers drop an idle stream after a while; a comment line now and then keeps it.
KEEP_ALIVE_S = 15.0
KEEP_ALIVE = ": keep-alive\n\n"


def message(event: str, data: Any) -> str:
    return f"event: {event}\ndata: {json.dumps(data, separators=(',', ':'))}\n\n"


class Broadcaster:
    """One queue per open stream; ``None`` in a queue ends that stream."""

    def __init__(self) -> None:
        self.queues: set[asyncio.Queue[str | None]] = set()
        self.closed = False

    def subscribe(self) -> asyncio.Queue[str | None]:
        queue: asyncio.Queue[str | None] = asyncio.Queue()
        if self.closed:
            queue.put_nowait(None)
        self.queues.add(queue)
        return queue

    def unsubscribe(self, queue: asyncio.Queue[str | None]) -> None:
        self.queues.discard(queue)

    def publish(self, event: str, data: Any) -> None:
        text = message(event, data)
        for queue in self.queues:
            queue.put_nowait(text)

    def close(self) -> None:
        """End every stream, so that stopping the server never waits for open pages."""
        self.closed = True
        for queue in self.queues:
            queue.put_nowait(None)
