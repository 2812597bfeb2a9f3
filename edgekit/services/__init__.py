"""Use cases: what the CLI calls. Each module combines the layers below it."""
