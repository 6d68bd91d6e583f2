"""The ``sparse`` index type: no index beyond the built-in sparse index."""

from ..hookspecs import hookimpl
from ..interfaces import BackendSpec, IndexBackend


class SparseOnly(IndexBackend):
    """Keeps nothing: the sparse index is served from the database."""

    def update_crate(self, name, content, message):
        pass

    def rebuild(self, files, message):
        for _ in files:
            pass


@hookimpl
def alexandrie_index_backends():
    return [BackendSpec("sparse", lambda settings, app: SparseOnly(),
                        "only the built-in sparse index at /index/", aliases=("none",))]
