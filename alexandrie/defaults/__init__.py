"""Built-in plugins: hook implementations only, registered exactly like external ones."""
