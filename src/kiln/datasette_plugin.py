"""A Datasette plugin that shows each image's thumbnail in the ``path`` cell, and answers only
requests whose Host header names the server (see :func:`asgi_wrapper`).

Any row of the ``kiln`` database with both an ``id`` and a ``path`` column (the ``images``
table, or a query selecting those columns from it) gets ``<img src="/thumb/<id>.webp">`` above
the path, provided Datasette was started with the art folder's ``thumb/`` directory mounted at
``/thumb`` (``--static thumb:art/thumb``) and the thumbnail exists; otherwise Datasette's own
rendering applies, so a missing stage never shows a broken image.

The hook targets ``path`` because Datasette 0.65 never calls ``render_cell`` for a table's
single-column primary key (``id``).
"""

from __future__ import annotations

import re
from pathlib import Path
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from datasette import hookimpl
from datasette.utils.asgi import Response
from markupsafe import Markup

from kiln.server.guard import HostCheck

if TYPE_CHECKING:
    from datasette.app import Datasette

DATABASE = "kiln"
THUMB_MOUNT = "thumb"
THUMB_EXTENSION = "webp"
_ID = re.compile(r"[0-9A-Za-z_-]+")
ASGIApp = Callable[[dict[str, Any], Any, Any], Awaitable[None]]


@hookimpl
def render_cell(
    row: Any, value: Any, column: str, table: str | None, database: str, datasette: Datasette
) -> Markup | None:
    if database != DATABASE or column != "path" or table not in ("images", None):
        return None
    if not isinstance(value, str) or "id" not in row.keys():
        return None
    image_id = row["id"]
    # The id becomes a file name and a URL: content ids are hex, so refuse anything else.
    if not isinstance(image_id, str) or not _ID.fullmatch(image_id):
        return None
    thumb_dir = dict(datasette.static_mounts).get(THUMB_MOUNT)
    name = f"{image_id}.{THUMB_EXTENSION}"
    if thumb_dir is None or not (Path(thumb_dir) / name).is_file():
        return None
    src = datasette.urls.path(f"/{THUMB_MOUNT}/{name}")
    # Markup.format escapes every argument, so ids and paths cannot inject markup.
    return Markup('<img src="{}" alt="" loading="lazy" width="100"><br>{}').format(src, value)


@hookimpl
def asgi_wrapper(datasette: Datasette) -> Callable[[ASGIApp], ASGIApp]:
    """Answer only requests whose Host header names the address the request came in on, as
    ``kiln serve`` does: a page of another site whose name is rebound to 127.0.0.1 (DNS
    rebinding) cannot read the store through the browser."""

    def wrap(app: ASGIApp) -> ASGIApp:
        async def checked(scope: dict[str, Any], receive: Any, send: Any) -> None:
            server = scope.get("server")
            if scope["type"] == "http" and server:
                host = dict(scope.get("headers") or []).get(b"host", b"").decode("latin-1")
                if not HostCheck(server[0], server[1] or 80)(host):
                    await _refuse(send)
                    return
            await app(scope, receive, send)

        return checked

    return wrap


async def _refuse(send: Any) -> None:
    body = b"This server answers only to the address it listens on (Host header refused).\n"
    await send({"type": "http.response.start", "status": 403,
                "headers": [(b"content-type", b"text/plain; charset=utf-8"), (b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})


# Every column of kiln's tables is described, and Datasette 0.65 lists the descriptions above
# the table: laid out in columns and capped in height, the rows stay in view.
STYLESHEET = """
dl.column-descriptions { display: grid; grid-template-columns: repeat(auto-fill, minmax(16rem, 1fr));
  gap: 0.2rem 1.5rem; max-height: 9rem; overflow: auto; font-size: 0.8rem; padding: 0.5rem;
  border: 1px solid #ddd; border-radius: 4px; }
dl.column-descriptions dt { font-weight: bold; }
dl.column-descriptions dd { margin: 0 0 0.3rem; color: #555; }
"""
STYLESHEET_PATH = "/-/kiln.css"


async def _stylesheet() -> Response:
    return Response(STYLESHEET, content_type="text/css; charset=utf-8")


@hookimpl
def register_routes() -> list[tuple[str, Any]]:
    return [(r"^/-/kiln\.css$", _stylesheet)]


@hookimpl
def extra_css_urls(datasette: Datasette) -> list[str]:
    return [datasette.urls.path(STYLESHEET_PATH)]
