"""README rendering through the renderer plugins: at publish, within a time budget, and again for every
stored README (``alexandrie readme rerender``, after a renderer or theme change)."""

import logging
from concurrent.futures import Future, ThreadPoolExecutor, TimeoutError
from typing import NamedTuple

from flask import current_app

from ..db import write_transaction
from ..models import Crate, Version
from ..registry import registry
from ..rules.names import canonical_name

BATCH = 200
log = logging.getLogger(__name__)


class Rendered(NamedTuple):
    """A README's HTML, or the rendering still running past the budget (``html`` is None then)."""

    html: str | None
    pending: Future | None = None


def render_within_budget(text: str | None, filename: str | None, repository: str | None) -> Rendered:
    """Render on the app's one README thread and wait at most ``[limits] readme_render_seconds``.

    A pathological README cannot hold a request thread: past the budget the version is stored with its
    text alone and ``finish_later`` writes the HTML when the renderer is done. One thread per app means
    many such READMEs queue behind each other instead of taking every request thread.
    """
    if not text:
        return Rendered(None)
    state = registry()
    if state.readme_worker is None:
        state.readme_worker = ThreadPoolExecutor(max_workers=1, thread_name_prefix="alexandrie-readme")
    app = current_app._get_current_object()
    future = state.readme_worker.submit(_render_in_app, app, text, filename, repository)
    try:
        return Rendered(future.result(timeout=state.settings.limits.readme_render_seconds))
    except TimeoutError:
        return Rendered(None, future)


def _render_in_app(app, text: str, filename: str | None, repository: str | None) -> str | None:
    with app.app_context():
        return render_readme(text, filename, repository)


def finish_later(rendered: Rendered, crate_name: str, num: str) -> None:
    """Once the slow rendering is done, store its HTML on the committed version (if it still has none)."""
    if rendered.pending is None:
        return
    app = current_app._get_current_object()
    log.warning("the README of %s %s takes longer than the render budget; it shows as text until it is ready",
                crate_name, num)
    rendered.pending.add_done_callback(lambda future: _store_late_html(app, future, crate_name, num))


def _store_late_html(app, future: Future, crate_name: str, num: str) -> None:
    if future.exception() is not None:
        log.error("rendering the README of %s %s failed: %s", crate_name, num, future.exception())
        return
    with app.app_context(), write_transaction():
        crate = Crate.select(Crate.id).where(Crate.canonical_name == canonical_name(crate_name))
        Version.update(readme_html=future.result()).where(
            (Version.crate.in_(crate)) & (Version.num == num) & Version.readme_html.is_null()).execute()


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
