"""Built-in plugins, registered exactly like external ones."""
