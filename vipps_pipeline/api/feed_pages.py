"""Feed paging: what one page of the continuous feed must hold before its cursor is kept.

The feed's cursor is the only record of how far it was read, so a page that would move it
wrongly (no new cursor after entries, a cursor of the wrong type, a ``tryLater`` that is not a
boolean) is refused as a whole and the caller keeps the cursor it had.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from vipps_pipeline.api.errors import BadFeed


@dataclass
class FeedPage:
    items: list[dict[str, Any]]
    cursor: str
    try_later: bool


def read_feed_page(body: Any, what: str, cursor: str | None) -> FeedPage:
    """The page asked for with ``cursor``, checked.

    The feed has no ``hasMore``: ``tryLater: true`` means caught up (ask again later with
    the same cursor). Its cursor is always present and never empties, so a page with
    entries but no new cursor is refused: following it would read the same entries again
    (or, without a cursor, the whole feed from the beginning).
    """
    if not isinstance(body, dict) or not isinstance(body.get("items"), list):
        raise BadFeed(f"{what}: the answer has no 'items' list")
    items = body["items"]
    try_later = body.get("tryLater", False)
    if not isinstance(try_later, bool):
        raise BadFeed(f"{what}: field 'tryLater' must be true or false, got {try_later!r}")
    new = body.get("cursor")
    if new is not None and not isinstance(new, str):
        raise BadFeed(f"{what}: field 'cursor' must be a string, got {type(new).__name__}")
    if items and (not new or new == cursor):
        raise BadFeed(f"{what}: a page of {len(items)} entries without a new cursor")
    return FeedPage(items, new or cursor or "", try_later)
