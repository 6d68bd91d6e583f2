"""Crate search shared by ``cargo search`` and the web UI: ranked, portable SQL."""

import re
from dataclasses import dataclass

import peewee
from peewee import Case, fn

from ..models import Category, Crate, CrateCategory, CrateKeyword, Keyword
from ..rules.names import canonical_name
from .visibility import readable_condition

SORTS = ("relevance", "downloads", "recent", "name")


@dataclass
class SearchResult:
    crates: list[Crate]
    total: int


def terms_of(query: str) -> list[str]:
    """Words of the query; cargo joins words with ``+``. LIKE wildcards and NULs (which PostgreSQL
    refuses) are dropped."""
    words = re.split(r"[\s+]+", (query or "").lower())
    return [w for w in (re.sub(r"[%\\\x00]", "", w) for w in words) if w][:8]


def search_crates(query: str = "", page: int = 1, per_page: int = 10, sort: str = "relevance",
                  keyword: str | None = None, category: str | None = None, reader=None) -> SearchResult:
    """Crates ``reader`` (None: anonymous) may see that match every word of ``query``, ranked."""
    terms = terms_of(query)
    condition = _condition(terms, keyword, category, reader)
    total = Crate.select().where(condition).count()
    score = _score(terms).alias("score")
    rows = (Crate.select(Crate, score).where(condition)
            .order_by(*_ordering(sort, score))
            .paginate(max(1, page), max(1, min(per_page, 100))))
    return SearchResult(crates=list(rows), total=total)


def _matches(term: str):
    canon = canonical_name(term)
    keyword_hit = CrateKeyword.select().join(Keyword).where(
        (CrateKeyword.crate == Crate.id) & (Keyword.name == term))
    return (Crate.canonical_name.contains(canon) | fn.LOWER(Crate.description).contains(term)
            | fn.EXISTS(keyword_hit))


def _condition(terms, keyword, category, reader):
    # Restricted crates are absent from every search of a reader who may not see them.
    condition = readable_condition(reader)
    for term in terms:
        condition &= _matches(term)
    if keyword:
        condition &= fn.EXISTS(CrateKeyword.select().join(Keyword).where(
            (CrateKeyword.crate == Crate.id) & (Keyword.name == keyword.lower())))
    if category:
        condition &= fn.EXISTS(CrateCategory.select().join(Category).where(
            (CrateCategory.crate == Crate.id) & (Category.slug == category)))
    return condition


def _score(terms):
    """Exact name beats name prefix beats name substring beats description."""
    score = peewee.Value(0)
    whole = canonical_name(" ".join(terms).replace(" ", "-")) if terms else ""
    if whole:
        score = score + Case(None, [(Crate.canonical_name == whole, 1000)], 0)
    for term in terms:
        canon = canonical_name(term)
        score = score + Case(None, [(Crate.canonical_name == canon, 100),
                                    (Crate.canonical_name.startswith(canon), 40),
                                    (Crate.canonical_name.contains(canon), 20)], 0)
        score = score + Case(None, [(fn.LOWER(Crate.description).contains(term), 5)], 0)
    return score


def _ordering(sort: str, score):
    if sort == "downloads":
        return (Crate.downloads.desc(), Crate.name)
    if sort == "recent":
        return (Crate.updated_at.desc(), Crate.name)
    if sort == "name":
        return (Crate.canonical_name,)
    return (peewee.SQL("score").desc(), Crate.downloads.desc(), Crate.canonical_name)
