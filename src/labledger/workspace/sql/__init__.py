"""The SQL stores: the store Protocols over the catalog database (SQLite or PostgreSQL).

The one place where the services' SQL lives, with its dialect differences and the SQLite driver
fast paths. Services never import it: they receive stores from their workspace.
"""

__all__: list[str] = []
