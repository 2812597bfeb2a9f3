"""Devices reached over a transport: the connection, and a session with a board."""
