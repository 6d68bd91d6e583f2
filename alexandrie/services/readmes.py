"""README rendering through the renderer plugins: at publish, and again for every stored README
(``alexandrie readme rerender``, after a renderer or theme change)."""

from ..db import write_transaction
from ..models import Version
from ..registry import registry

BATCH = 200


def render_readme(text: str | None, filename: str | None, repository: str | None) -> str | None:
    """Safe HTML from the first renderer that answers; None for an empty README."""
    if not text:
        return None
    return registry().pm.hook.alexandrie_render_readme(text=text, filename=filename, repository=repository)


def versions_with_readme():
    return (Version.select(Version.id, Version.readme, Version.readme_file, Version.repository)
            .where(Version.readme.is_null(False)).order_by(Version.id))


def rerender_all(progress=None) -> int:
    """Render every stored README again with the installed renderer; returns how many changed."""
    changed = 0
    rows = list(versions_with_readme().tuples())
    for start in range(0, len(rows), BATCH):
        batch = rows[start:start + BATCH]
        # Rendered before the write lock is taken, as at publish: a slow renderer holds up no writer.
        rendered = [(version_id, render_readme(text, filename, repository))
                    for version_id, text, filename, repository in batch]
        with write_transaction():
            for version_id, html in rendered:
                changed += Version.update(readme_html=html).where(
                    (Version.id == version_id) & ((Version.readme_html != html) | Version.readme_html.is_null())
                ).execute()
        if progress:
            progress(len(batch))
    return changed
