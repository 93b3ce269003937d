"""The ASGI application behind ``kiln serve``: build/ as it is on disk, plus the culling API.

| path | methods | what |
|---|---|---|
| anything but ``/_kiln/…`` | GET, HEAD | a file of build/; pages get the token meta element |
| ``/_kiln/api/images?ids=a,b`` | GET | the culling state of those images |
| ``/_kiln/api/curate`` | POST | one change to some images, through ``kiln.library.curation`` |
| ``/_kiln/api/undo`` | POST | revert the newest change not yet undone |
| ``/_kiln/events`` | GET | Server-Sent Events: ``curation`` and ``build`` |

The two POST paths are the only writes. Store calls run in a thread, so a slow query or a
writer holding the database lock never stalls the pages and event streams served meanwhile.
"""

from __future__ import annotations

import asyncio
import json
import os
import secrets
from collections.abc import Awaitable, Callable, Iterable
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

from kiln.errors import KilnError
from kiln.server.events import KEEP_ALIVE, KEEP_ALIVE_S, Broadcaster
from kiln.server.guard import HostCheck, write_refusal
from kiln.server.static import Found, Redirect, locate, with_token
from kiln.store.db import Store

Scope = dict[str, Any]
Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]

API = "/_kiln/api/"
EVENTS = "/_kiln/events"
MAX_BODY = 1 << 20
MAX_IDS = 10_000
CHUNK = 256 * 1024
# Every answer: no sniffing a type we did not send, and no framing by other sites (a framed
# gallery would take the user's key presses as culling).
COMMON_HEADERS = [
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"SAMEORIGIN"),
    (b"content-security-policy", b"frame-ancestors 'self'"),
    (b"referrer-policy", b"same-origin"),
]


class Request:
    def __init__(self, scope: Scope, receive: Receive, send: Send):
        self.scope, self.receive, self.send = scope, receive, send
        self.method: str = scope["method"]
        self.path: str = scope["path"]
        self.headers: dict[str, str] = {}
        for name, value in scope["headers"]:
            key, text = name.decode("latin-1").lower(), value.decode("latin-1")
            # A header sent twice is joined as HTTP says, so it can never match a single value.
            self.headers[key] = f"{self.headers[key]}, {text}" if key in self.headers else text

    async def body(self) -> bytes | None:
        """The request body, or None when it is larger than ``MAX_BODY``."""
        chunks, size = [], 0
        while True:
            message = await self.receive()
            if message["type"] == "http.disconnect":
                return b"".join(chunks)
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > MAX_BODY:
                return None
            chunks.append(chunk)
            if not message.get("more_body"):
                return b"".join(chunks)

    async def start(self, status: int, headers: Iterable[tuple[bytes, bytes]]) -> None:
        await self.send({"type": "http.response.start", "status": status, "headers": [*COMMON_HEADERS, *headers]})

    async def respond(self, status: int, body: bytes, content_type: str, headers: Iterable[tuple[bytes, bytes]] = ()) -> None:
        await self.start(status, [(b"content-type", content_type.encode()), (b"content-length", str(len(body)).encode()), *headers])
        await self.send({"type": "http.response.body", "body": b"" if self.method == "HEAD" else body})

    async def text(self, status: int, text: str, headers: Iterable[tuple[bytes, bytes]] = ()) -> None:
        await self.respond(status, f"{text}\n".encode(), "text/plain; charset=utf-8", headers)

    async def json(self, status: int, data: Any) -> None:
        body = json.dumps(data, ensure_ascii=False, separators=(",", ":")).encode()
        await self.respond(status, body, "application/json", [(b"cache-control", b"no-store")])

    async def refuse(self, status: int, reason: str) -> None:
        if self.path.startswith("/_kiln/"):
            await self.json(status, {"error": reason})
        else:
            await self.text(status, reason)


class GalleryApp:
    def __init__(self, build_dir: Path, store: Store, token: str, hosts: HostCheck, events: Broadcaster):
        self.build_dir = build_dir
        self.store = store
        self.token = token
        self.hosts = hosts
        self.events = events
        # Part of every page's ETag: a page cached under an earlier server holds an older token.
        self.instance = secrets.token_hex(4)
        self.routes: dict[str, tuple[str, Callable[[Request], Awaitable[None]]]] = {
            f"{API}images": ("GET", self.images),
            f"{API}curate": ("POST", self.curate),
            f"{API}undo": ("POST", self.undo),
            EVENTS: ("GET", self.stream),
        }

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        request = Request(scope, receive, send)
        if not self.hosts(request.headers.get("host")):
            await request.refuse(403, "this server answers only to the address it listens on (Host header refused)")
        elif request.path.startswith("/_kiln/"):
            await self.kiln(request)
        elif request.method not in ("GET", "HEAD"):
            await request.text(405, "this server only reads files", [(b"allow", b"GET, HEAD")])
        else:
            await self.file(request)

    # build/ --------------------------------------------------------------------------------

    async def file(self, request: Request) -> None:
        found = await asyncio.to_thread(locate, self.build_dir, request.path)
        if isinstance(found, Redirect):
            query = request.scope.get("query_string", b"")
            location = found.location + (f"?{query.decode('latin-1')}" if query else "")
            await request.text(301, f"moved to {location}", [(b"location", location.encode("latin-1"))])
        elif found is None:
            await request.text(404, "not found")
        elif found.is_html:
            await self.page(request, found)
        else:
            await self.send_file(request, found)

    def _validators(self, found: Found, stat: os.stat_result) -> list[tuple[bytes, bytes]]:
        tag = f"{stat.st_size:x}-{stat.st_mtime_ns:x}"
        etag = f'"{tag}-{self.instance}"' if found.is_html else f'"{tag}"'
        return [(b"cache-control", found.cache_control.encode()), (b"etag", etag.encode())]

    async def _not_modified(self, request: Request, headers: list[tuple[bytes, bytes]]) -> bool:
        """Answer 304 when the browser's copy is current."""
        if request.headers.get("if-none-match", "").encode() != dict(headers)[b"etag"]:
            return False
        await request.start(304, headers)
        await request.send({"type": "http.response.body", "body": b""})
        return True

    async def page(self, request: Request, found: Found) -> None:
        try:
            stat = found.path.stat()
            html = await asyncio.to_thread(found.path.read_bytes)
        except OSError:  # removed by a rebuild meanwhile
            await request.text(404, "not found")
            return
        headers = self._validators(found, stat)
        if await self._not_modified(request, headers):
            return
        await request.respond(200, with_token(html, self.token), found.content_type, headers)

    async def send_file(self, request: Request, found: Found) -> None:
        try:
            handle = found.path.open("rb")
        except OSError:
            await request.text(404, "not found")
            return
        with handle:
            stat = os.fstat(handle.fileno())
            headers = self._validators(found, stat)
            if await self._not_modified(request, headers):
                return
            await request.start(200, [(b"content-type", found.content_type.encode()),
                                      (b"content-length", str(stat.st_size).encode()), *headers])
            if request.method == "HEAD":
                await request.send({"type": "http.response.body", "body": b""})
                return
            while chunk := await asyncio.to_thread(handle.read, CHUNK):
                await request.send({"type": "http.response.body", "body": chunk, "more_body": True})
            await request.send({"type": "http.response.body", "body": b""})

    # /_kiln/ -------------------------------------------------------------------------------

    async def kiln(self, request: Request) -> None:
        route = self.routes.get(request.path)
        if route is None:
            await request.refuse(404, "not found")
            return
        method, handler = route
        if request.method != method:
            await request.refuse(405, f"{request.path} only answers {method}")
            return
        if method == "POST":
            refusal = write_refusal(request.headers, self.token)
            if refusal:
                await request.refuse(403, refusal)
                return
        await handler(request)

    async def _json_body(self, request: Request) -> dict[str, Any] | None:
        """The request's JSON object, or None once the request has been answered with an error."""
        body = await request.body()
        if body is None:
            await request.refuse(413, "the request is too large")
            return None
        try:
            data = json.loads(body or b"{}")
        except (ValueError, UnicodeDecodeError):
            await request.refuse(400, "the request body is not valid JSON")
            return None
        if not isinstance(data, dict):
            await request.refuse(400, "the request body must be a JSON object")
            return None
        return data

    async def images(self, request: Request) -> None:
        from kiln.library.curation import image_states

        query = parse_qs(request.scope.get("query_string", b"").decode("latin-1"))
        ids = [i for value in query.get("ids", []) for i in value.split(",") if i]
        if len(ids) > MAX_IDS:
            await request.refuse(400, f"at most {MAX_IDS} ids at once")
            return
        states = await asyncio.to_thread(image_states, self.store, ids) if ids else []
        await request.json(200, {"images": states})

    async def curate(self, request: Request) -> None:
        from kiln.library.curation import Change, apply_change

        data = await self._json_body(request)
        if data is None:
            return
        ids = data.get("ids")
        if not isinstance(ids, list) or not ids or not all(isinstance(i, str) and i for i in ids):
            await request.refuse(400, '"ids" must be a non-empty list of image ids')
            return
        if len(ids) > MAX_IDS:
            await request.refuse(400, f"at most {MAX_IDS} ids at once")
            return
        change = data.get("change")
        if not isinstance(change, dict):
            await request.refuse(400, '"change" must be an object such as {"rating": 4}')
            return
        try:
            result = await asyncio.to_thread(lambda: apply_change(self.store, ids, Change.from_json(change), source="server"))
        except KilnError as error:
            await request.refuse(400, str(error))
            return
        await request.json(200, {"changed": result.changed, "message": result.describe(), "images": result.images})

    async def undo(self, request: Request) -> None:
        from kiln.library.curation import undo

        if await self._json_body(request) is None:
            return
        try:
            result = await asyncio.to_thread(undo, self.store, source="server")
        except KilnError as error:
            await request.refuse(400, str(error))
            return
        await request.json(200, {"message": result.describe(), "images": result.images})

    async def stream(self, request: Request) -> None:
        queue = self.events.subscribe()

        async def end_on_disconnect() -> None:
            while (await request.receive())["type"] != "http.disconnect":
                pass
            queue.put_nowait(None)

        watcher = asyncio.create_task(end_on_disconnect())
        try:
            await request.start(200, [(b"content-type", b"text/event-stream; charset=utf-8"), (b"cache-control", b"no-store")])
            await request.send({"type": "http.response.body", "body": b"retry: 1000\n\n", "more_body": True})
            while True:
                try:
                    text = await asyncio.wait_for(queue.get(), KEEP_ALIVE_S)
                except TimeoutError:
                    text = KEEP_ALIVE
                if text is None:
                    break
                await request.send({"type": "http.response.body", "body": text.encode(), "more_body": True})
            await request.send({"type": "http.response.body", "body": b""})
        finally:
            watcher.cancel()
            self.events.unsubscribe(queue)
