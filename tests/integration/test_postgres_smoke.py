"""The PostgreSQL fixtures start a server that SQLAlchemy can use."""

from __future__ import annotations

import pytest
from sqlalchemy import create_engine, text

pytestmark = pytest.mark.integration


def test_select_one(postgres_url: str) -> None:
    engine = create_engine(postgres_url)
    try:
        with engine.connect() as connection:
            assert connection.execute(text("select 1")).scalar_one() == 1
            database = connection.execute(text("select current_database()")).scalar_one()
            assert database == "labledger_test"
    finally:
        engine.dispose()


def test_fresh_database_is_empty_and_private(fresh_postgres_url: str, postgres_url: str) -> None:
    assert fresh_postgres_url != postgres_url
    engine = create_engine(fresh_postgres_url)
    try:
        with engine.begin() as connection:
            tables = connection.execute(
                text("select count(*) from information_schema.tables where table_schema = 'public'")
            ).scalar_one()
            assert tables == 0
            connection.execute(text("create table probe (id integer primary key)"))
            connection.execute(text("insert into probe values (1)"))
        with engine.connect() as connection:
            assert connection.execute(text("select count(*) from probe")).scalar_one() == 1
    finally:
        engine.dispose()
