"""Full-text search of the ``images`` table page, bounded so it answers quickly at any size.

Datasette turns ``?_search=`` into ``rowid in (select rowid from images_fts where images_fts
match :search)``, and SQLite reads every matching row to sort the page, count it and facet it:
a word in a third of a million images took seconds. A search matching more than
:data:`SEARCH_LIMIT` images is therefore narrowed to its newest :data:`SEARCH_LIMIT` matches
(the full-text index holds them in the order they were recorded, so they are found without
reading the rest), and the page says so with the full count. Smaller searches are left as
Datasette makes them.

The narrowing is a second clause, ``rowid in (... and rowid >= :kiln_floor)``. Datasette puts
a plugin's clauses before its own search clause, and SQLite drives the query by the first of two
equally costed ``rowid in`` terms, so the short list drives and the long one is only a
membership test; the tests check that plan.
"""

from __future__ import annotations

import sqlite3
from typing import TYPE_CHECKING, Any

from datasette import hookimpl
from datasette.database import QueryInterrupted
from datasette.filters import FilterArguments

if TYPE_CHECKING:
    from datasette.app import Datasette

DATABASE = "kiln"
TABLE = "images"
FTS_TABLE = "images_fts"
# At a million images, this many matches are sorted, counted and faceted in well under a
# second; a search worth browsing page by page is seldom larger.
SEARCH_LIMIT = 10_000


def _raw(request: Any, metadata: dict[str, Any]) -> bool:
    """Whether Datasette passes the search to FTS5 as typed (``searchmode: raw``) or escaped."""
    mode = request.args.get("_searchmode")
    if mode in ("raw", "escaped"):
        return mode == "raw"
    return metadata.get("searchmode") == "raw"


@hookimpl
def filters_from_request(request: Any, database: str, table: str, datasette: Datasette) -> Any:
    search = request.args.get("_search")
    if database != DATABASE or table != TABLE or not search:
        return None

    async def narrow() -> FilterArguments | None:
        match = ":kiln_search" if _raw(request, datasette.table_metadata(database, table)) else "escape_fts(:kiln_search)"
        params = {"kiln_search": search, "kiln_skip": SEARCH_LIMIT - 1}
        db = datasette.get_database(database)
        try:
            floor = (
                await db.execute(
                    f"select rowid from {FTS_TABLE} where {FTS_TABLE} match {match}"
                    " order by rowid desc limit 1 offset :kiln_skip",
                    params,
                )
            ).first()
            if floor is None:
                return None
            total = (
                await db.execute(f"select count(*) from {FTS_TABLE} where {FTS_TABLE} match {match}", params)
            ).first()[0]
        except (sqlite3.OperationalError, QueryInterrupted):
            return None  # a malformed search: Datasette's own clause reports it
        return FilterArguments(
            [f"rowid in (select rowid from {FTS_TABLE} where {FTS_TABLE} match {match} and rowid >= :kiln_floor)"],
            {"kiln_search": search, "kiln_floor": floor[0]},
            [f"rowid is among the newest {SEARCH_LIMIT:,} of {total:,} matches (add words to narrow the search)"],
        )

    return narrow
