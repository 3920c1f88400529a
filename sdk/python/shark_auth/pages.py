"""Listings: one page (Page) and every page (walk).

Every list route answers {"data": [...], "limit": N, "next_cursor": "..." | null}
(+ "total" when asked with total=true); pass next_cursor back as `cursor`
for the next page, newest first. A server from before cursors answers
{"data", "total", "limit", "offset"} without next_cursor: walk() then pages
by offset while offset + rows < total, so iteration works against both."""
from __future__ import annotations

from dataclasses import dataclass
from typing import (Any, Callable, Dict, Generic, Iterator, List, Mapping, Optional, Tuple,
                    TypeVar, overload)

from ._http import Transport
from .errors import SharkError

T = TypeVar("T")
MAX_PAGE = 1000  # the server's largest limit


@dataclass
class Page(Generic[T]):
    """One page of a listing. Iterating a Page (for x in page, len(page),
    page[0]) reads this page only; the clients' iter_* methods walk them all.
    next_cursor is None on the last page; total, the count of every row, comes
    when asked for with total=True (counting is what makes a first page slow)."""
    data: List[T]
    next_cursor: Optional[str] = None
    total: Optional[int] = None

    def __iter__(self) -> Iterator[T]:
        return iter(self.data)

    def __len__(self) -> int:
        return len(self.data)

    @overload
    def __getitem__(self, i: int) -> T: ...

    @overload
    def __getitem__(self, i: slice) -> List[T]: ...

    def __getitem__(self, i: Any) -> Any:
        return self.data[i]


def rows(body: Mapping[str, Any], key: str = "data") -> List[Any]:
    v = body.get(key)
    if v is None and key != "data":
        v = body.get("data")
    return list(v) if isinstance(v, list) else []


def total_of(body: Mapping[str, Any]) -> Optional[int]:
    v = body.get("total")
    return v if isinstance(v, int) and not isinstance(v, bool) else None


def page_params(limit: Optional[int], cursor: Optional[str], offset: Optional[int],
                total: bool) -> Dict[str, Any]:
    """The paging query: offset only when non-zero (a cursor with offset>0 is refused)."""
    return {"limit": limit, "cursor": cursor or None, "offset": offset or None,
            "total": "true" if total else None}


def to_page(body: Mapping[str, Any], convert: Callable[[Any], T], key: str = "data") -> Page[T]:
    return Page(data=[convert(d) for d in rows(body, key)], next_cursor=body.get("next_cursor"),
                total=total_of(body))


def _after(body: Mapping[str, Any], n: int) -> Optional[Tuple[str, Any]]:
    """Where the next page starts: ("cursor", c), ("offset", k) or None (the last page)."""
    if "next_cursor" in body:
        c = body["next_cursor"]
        return ("cursor", c) if isinstance(c, str) and c else None
    total, offset = total_of(body), body.get("offset")
    if n > 0 and total is not None and isinstance(offset, int) and offset + n < total:
        return ("offset", offset + n)
    return None


def walk(t: Transport, path: str, params: Mapping[str, Any], *, page_size: int = 100,
         kind: str = "api", key: str = "data",
         max_rows: Optional[int] = None) -> Iterator[Any]:
    """Every row of a listing (as JSON), page by page. Stops at
    the last page, or after max_rows rows. The first request is sent when
    iteration starts."""
    if not isinstance(page_size, int) or not 1 <= page_size <= MAX_PAGE:
        raise ValueError("page_size must be an integer from 1 to %d" % MAX_PAGE)
    pos: Optional[Tuple[str, Any]] = None
    seen = 0
    while True:
        size = page_size if max_rows is None else min(page_size, max_rows - seen)
        if size <= 0:
            return
        q = dict(params)
        q.update(page_params(size, pos[1] if pos and pos[0] == "cursor" else None,
                             pos[1] if pos and pos[0] == "offset" else None, False))
        body = t.send("GET", path, params=q, kind=kind).json()
        page = rows(body, key)
        yield from page
        seen += len(page)
        nxt = _after(body, len(page))
        if nxt is None:
            return
        if nxt == pos:
            raise SharkError("the server answered the same next_cursor twice; stopping")
        pos = nxt
