"""The blueprints: the sparse index, the cargo API, the machine pages, and the browser UI."""
