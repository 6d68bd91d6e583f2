"""Re-rendering stored READMEs after a renderer or theme change (``alexandrie readme rerender``)."""

import sys

import click

BATCH = 200


def versions_with_readme():
    from .models import Version

    return (Version.select(Version.id, Version.readme, Version.readme_file, Version.repository)
            .where(Version.readme.is_null(False)).order_by(Version.id))


def rerender_all(progress=None) -> int:
    """Render every stored README again with the installed renderer; returns how many changed."""
    from .db import write_transaction
    from .models import Version
    from .publish import render_readme

    changed = 0
    rows = list(versions_with_readme().tuples())
    for start in range(0, len(rows), BATCH):
        batch = rows[start:start + BATCH]
        with write_transaction():
            for version_id, text, filename, repository in batch:
                html = render_readme(text, filename, repository)
                changed += Version.update(readme_html=html).where(
                    (Version.id == version_id) & ((Version.readme_html != html) | Version.readme_html.is_null())
                ).execute()
        if progress:
            progress(len(batch))
    return changed


@click.group("readme")
def readme_group():
    """Maintain rendered READMEs."""


@readme_group.command("rerender")
def rerender():
    """Render every stored README again (after upgrading the renderer plugin or changing its theme)."""
    from .cli import in_app
    from .models import Crate

    @in_app
    def run():
        total = versions_with_readme().count()
        with click.progressbar(length=total, label="Rendering READMEs", file=sys.stderr) as bar:
            changed = rerender_all(progress=bar.update)
        click.echo(f"rendered {total} READMEs of {Crate.select().count()} crates; {changed} changed")

    run()
