"""Where the Jinja templates are: the packaged ``alexandrie.templates``, or the checkout's ``templates/``."""

from importlib import resources
from pathlib import Path


def templates_dir() -> str:
    """The packaged templates, or the checkout's ``templates/`` when run from source."""
    try:
        folder = resources.files("alexandrie.templates")
        if folder.joinpath("me.html").is_file():
            return str(folder)
    except ModuleNotFoundError:
        pass
    return str(Path(__file__).resolve().parent.parent.parent / "templates")
