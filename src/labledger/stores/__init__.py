"""Stores: the typed, batch-first Protocols the services speak to, and the public frozen types
those Protocols take and return.

A workspace is a bundle of stores. The SQL backend (SQLite, PostgreSQL) and the HTTP backend (the
client of a labledger server) implement the same Protocols, so the services, the CLI and the
Python API behave the same on a laptop and against a team server.
"""

__all__: list[str] = []
