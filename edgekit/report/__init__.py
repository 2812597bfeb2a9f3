"""Renderers of reports: terminal tables, JSON, CSV, plots. Never sees a framework object."""
