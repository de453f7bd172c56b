"""Catalogs as an older labledger left them, for the tests of opening, migrating and backing up."""

from __future__ import annotations

from pathlib import Path

from labledger.workspace import schema
from labledger.workspace.catalog import Catalog

__all__ = ["catalog_at", "folder_catalog_at", "revision_of"]


def catalog_at(url: str, revision: str) -> None:
    """Write the schema of ``revision`` into the (empty) catalog database at ``url``."""
    from alembic import command
    from alembic.config import Config

    catalog = Catalog(url)
    try:
        config = Config()
        config.set_main_option(
            "script_location", str(Path(schema.__file__).with_name("migrations"))
        )
        with catalog.writer.begin() as conn:
            config.attributes["connection"] = conn
            command.upgrade(config, revision)
    finally:
        catalog.dispose()


def folder_catalog_at(folder: Path, revision: str) -> Path:
    """A workspace in ``folder`` whose catalog was written by a labledger at ``revision``; its
    ``.labledger`` folder."""
    root = folder / ".labledger"
    (root / "objects").mkdir(parents=True)
    catalog_at(f"sqlite:///{root / 'catalog.db'}", revision)
    return root


def revision_of(url: str) -> str | None:
    """The schema revision of the catalog at ``url``."""
    catalog = Catalog(url)
    try:
        return catalog.revision()
    finally:
        catalog.dispose()
