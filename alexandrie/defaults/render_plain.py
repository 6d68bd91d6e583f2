"""Fallback README renderer: the text, escaped, in a <pre> block."""

from markupsafe import escape

from ..hookspecs import hookimpl


@hookimpl(trylast=True)
def alexandrie_render_readme(text, filename, repository):
    return f'<pre class="readme-plain">{escape(text)}</pre>'
