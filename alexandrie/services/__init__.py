"""Services: what the registry does, called by the web views and the CLI. No HTTP request and no click
here; each change runs in ``changes.change()``."""
