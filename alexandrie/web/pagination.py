"""Long lists in the browser UI, one page at a time: the page number and filter text from the query string,
one page of rows, and the links to the other pages (the ``pagination`` macro in ``partials/macros.html``).

No page grows with the registry: every list a page shows is a ``Page`` of at most ``per_page`` rows.
"""

import math
from collections.abc import Sequence
from dataclasses import dataclass
from urllib.parse import urlencode

import peewee
from flask import request

PER_PAGE = 20
MAX_PAGE = 10_000  # deeper than any real listing; keeps OFFSET bounded for a hand-edited URL
MAX_FILTER = 100


@dataclass(frozen=True)
class Page:
    """One page of a list: its rows, which page it is and how many rows match in all."""

    items: list
    number: int
    per_page: int
    total: int

    @property
    def pages(self) -> int:
        return max(1, math.ceil(self.total / self.per_page))

    @property
    def first(self) -> int:
        """The 1-based position of the first row shown (0 when there is none)."""
        return (self.number - 1) * self.per_page + 1 if self.items else 0

    @property
    def last(self) -> int:
        return self.first + len(self.items) - 1 if self.items else 0


def page_number() -> int:
    """``?page=N`` of the request, 1 when it is missing or not a number."""
    return max(1, min(request.args.get("page", 1, type=int) or 1, MAX_PAGE))


def filter_text(name: str = "q") -> str:
    """The text of a list's filter box (``?q=``), stripped and bounded."""
    return request.args.get(name, "").strip()[:MAX_FILTER]


def _clamped(total: int, per_page: int) -> int:
    """The requested page, or the last one when it asks past the end."""
    return min(page_number(), max(1, math.ceil(total / per_page)))


def paginate(query: peewee.SelectQuery, per_page: int = PER_PAGE) -> Page:
    """The requested page of an ordered query: one COUNT and one bounded SELECT."""
    total = query.count()
    number = _clamped(total, per_page)
    return Page(items=list(query.paginate(number, per_page)), number=number, per_page=per_page, total=total)


def paginate_list(rows: Sequence, per_page: int = PER_PAGE) -> Page:
    """The requested page of rows already in order (versions, sorted by SemVer in Python)."""
    number = _clamped(len(rows), per_page)
    start = (number - 1) * per_page
    return Page(items=list(rows[start:start + per_page]), number=number, per_page=per_page, total=len(rows))


def page_url(number: int) -> str:
    """The current listing with another page number, keeping the query and filters."""
    args = {key: value for key, value in request.args.items() if key != "page"}
    return f"{request.path}?{urlencode({**args, 'page': number})}"
