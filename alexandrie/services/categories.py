"""The categories crates can be listed in: a fixed list, crates.io's by default (``categories.toml`` next to
this module), replaced by the TOML file ``[general] categories_file`` names, in crates.io's format. A
publish links the crate to the categories on the list; the others are left out and reported back to cargo,
which prints them as a warning."""

import tomllib
from dataclasses import dataclass
from pathlib import Path

from ..config import Settings
from ..errors import ConfigError
from ..models import Category, Crate, CrateCategory
from ..registry import registry
from ..rules.metadata import is_category

CRATES_IO_CATEGORIES = Path(__file__).with_name("categories.toml")
MAX_NAME_LENGTH = 128  # the column's


@dataclass(frozen=True)
class KnownCategory:
    slug: str  # `parent::child` for a subcategory
    name: str  # `Parent::Child` for a subcategory, as crates.io names them
    description: str


def known_categories() -> tuple[KnownCategory, ...]:
    """The categories of the app in context, sorted by slug: read once, at start-up."""
    return registry().categories


def read_categories(settings: Settings) -> tuple[KnownCategory, ...]:
    """The categories ``settings`` name, sorted by slug.

    A file that cannot be read, or holds a table that is not a category, is a ``ConfigError`` naming it.
    """
    path = categories_file(settings)
    try:
        table = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"[general] categories_file: {path} cannot be read as TOML ({exc}); fix the file or "
                          "remove the setting to use crates.io's categories") from None
    return tuple(sorted(_categories_in(table, None, path), key=lambda category: category.slug))


def categories_file(settings: Settings) -> Path:
    configured = settings.general.categories_file
    return Path(settings.base_dir, configured).expanduser() if configured else CRATES_IO_CATEGORIES


def split_categories(slugs: list[str]) -> tuple[list[str], list[str]]:
    """(the slugs on the registry's list, the others), each in the order given, without repeats."""
    known = {category.slug for category in known_categories()}
    unique = list(dict.fromkeys(slugs))
    return [s for s in unique if s in known], [s for s in unique if s not in known]


def link_categories(crate: Crate, slugs: list[str]) -> None:
    """List ``crate`` in exactly the known categories among ``slugs``, creating the rows of those first used."""
    listed = {category.slug: category for category in known_categories()}
    CrateCategory.delete().where(CrateCategory.crate == crate).execute()
    for slug in dict.fromkeys(s for s in slugs if s in listed):
        row = Category.get_or_none(Category.slug == slug) or Category.create(
            slug=slug, name=listed[slug].name, description=listed[slug].description)
        CrateCategory.create(crate=crate, category=row)


def _categories_in(table: dict, parent: KnownCategory | None, path: Path):
    """crates.io's layout: ``[slug]`` with ``name`` and ``description``, subcategories under
    ``[slug.categories.child]``."""
    for slug, details in table.items():
        full_slug = f"{parent.slug}::{slug}" if parent else slug
        if not isinstance(details, dict) or not isinstance(details.get("name"), str) or not is_category(full_slug):
            raise ConfigError(f"[general] categories_file: {path}: [{full_slug}] is not a category; write a "
                              'lowercase slug of letters, digits and `-` with name = "..." under it')
        name = f"{parent.name}::{details['name']}" if parent else details["name"]
        children = details.get("categories", {})
        if len(name) > MAX_NAME_LENGTH or not isinstance(children, dict):
            raise ConfigError(f"[general] categories_file: {path}: [{full_slug}] needs a name of at most "
                              f"{MAX_NAME_LENGTH} characters and its subcategories as [{full_slug}.categories.SLUG]")
        category = KnownCategory(full_slug, name, " ".join(str(details.get("description", "")).split()))
        yield category
        yield from _categories_in(children, category, path)
