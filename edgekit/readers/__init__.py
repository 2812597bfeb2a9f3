"""Readers: turn a framework object or a model file into framework-neutral layer records."""
