"""HTTP blueprints: the sparse index, the cargo web API and the small pages."""
