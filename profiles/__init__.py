"""Device profiles shipped with edgekit (TOML files, loaded with importlib.resources)."""
