"""The chain of trust on PostgreSQL: truncation, a re-signed rewrite, a fork, offline proofs from a
PostgreSQL + S3 workspace, concurrent writers, and the migration that made the ledger a log."""

from __future__ import annotations

import json
import subprocess
import sys
import uuid
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
import sqlalchemy as sa

import labledger
from labledger.workspace.checkpoints import make_checkpoint, workspace_id
from labledger.workspace.keys import create_signing_key, trusted_keys
from labledger.workspace.ledger import GENESIS_HASH, _body, entry_hash, iter_entries
from labledger.workspace.proofs import make_proof
from labledger.workspace.records import run_record_digest
from labledger.workspace.signing import Signer, generate_key, load_signer
from labledger.workspace.verify import verify_workspace
from labledger.workspace.workspace import Workspace
from tests.conftest import subprocess_env
from tests.unit.workspace import ledger_writers

if TYPE_CHECKING:
    from collections.abc import Iterator

    from tests.integration.conftest import S3Server, _PostgresCluster

pytestmark = pytest.mark.integration


def _runs(ws: Workspace, count: int, prefix: str = "r") -> list[str]:
    ids = []
    for i in range(count):
        with labledger.start_run(f"{prefix}{i}", params={"i": i}, workspace=ws) as run:
            run.log_metric("auc", 0.5 + i / 100)
            run.log_artifact({"weights": [i], "prefix": prefix}, name=f"{prefix}model-{i}.json")
        ids.append(run.id)
    return ids


def _reasons(report: Any) -> str:
    return "\n".join(p.reason for p in report.problems)


def _drop_anchors(conn: sa.Connection) -> None:
    conn.execute(sa.text("DELETE FROM ledger_tree"))
    conn.execute(sa.text("DELETE FROM ledger_checkpoints"))


def _truncate(ws: Workspace, count: int) -> None:
    with ws.write() as conn:
        conn.execute(
            sa.text("DELETE FROM ledger WHERE seq > (SELECT max(seq) FROM ledger) - :n"),
            {"n": count},
        )
        _drop_anchors(conn)


def _rehash(ws: Workspace, signer: Signer | None) -> None:
    """What an attacker with write access does after editing: make the chain whole again."""
    with ws.write() as conn:
        prev = GENESIS_HASH
        for entry in list(iter_entries(conn)):
            payload = dict(entry.payload)
            if "checkpoint" in payload:
                # The checkpoints signed into seals would give the rewrite away: strip them too.
                del payload["checkpoint"]
                _set_payload(conn, entry.seq, payload)
            body = _body(
                entry.id, entry.kind, entry.actor, entry.subject, payload, entry.created_at
            )
            hash_ = entry_hash(prev, body)
            signature = (
                signer.sign(hash_) if signer is not None and signer.actor == entry.actor else None
            )
            conn.execute(
                sa.text(
                    "UPDATE ledger SET prev_hash = :p, hash = :h, signature = :s WHERE id = :id"
                ),
                {"p": prev, "h": hash_, "s": signature, "id": entry.id},
            )
            prev = hash_
        _drop_anchors(conn)


def _set_payload(conn: sa.Connection, seq: int, payload: dict[str, Any]) -> None:
    conn.execute(
        sa.text("UPDATE ledger SET payload_json = :p WHERE seq = :s"),
        {"p": json.dumps(payload, sort_keys=True, separators=(",", ":")), "s": seq},
    )


# --- 1. truncation ---------------------------------------------------------------------------------


@pytest.mark.parametrize("cut", [1, 5])
def test_truncation_is_found_by_a_checkpoint_and_by_the_last_verify(
    pg_workspace: Workspace, cut: int
) -> None:
    _runs(pg_workspace, 3)
    assert verify_workspace(pg_workspace).ok  # remembered in this test's state folder
    checkpoint = make_checkpoint(pg_workspace)
    assert not checkpoint.signatures  # a database workspace has no workspace key
    _truncate(pg_workspace, cut)
    # The remaining chain is intact: no entry problem shows the cut.
    assert not any(
        p.kind == "ledger" and "entry #" in p.reason
        for p in verify_workspace(pg_workspace, remember=False).problems
    )
    report = verify_workspace(pg_workspace, checkpoint=checkpoint, remember=False)
    expected = f"{cut} entr{'y was' if cut == 1 else 'ies were'} cut from its end"
    assert any(p.kind == "checkpoint" and expected in p.reason for p in report.problems)
    plain = verify_workspace(pg_workspace)
    assert any(p.id == "last verified" and expected in p.reason for p in plain.problems)


def test_truncation_with_the_catalogs_own_anchors_left_in_place_is_found(
    pg_workspace: Workspace,
) -> None:
    _runs(pg_workspace, 2)
    make_checkpoint(pg_workspace)  # a checkpoint (and tree) the catalog keeps
    with pg_workspace.write() as conn:
        conn.execute(sa.text("DELETE FROM ledger WHERE seq = (SELECT max(seq) FROM ledger)"))
    report = verify_workspace(pg_workspace, remember=False)
    assert "cut from its end" in _reasons(report)


# --- 2. a re-signed rewrite, and a fork ------------------------------------------------------------


def test_a_rewritten_and_resigned_chain_fails_against_pinned_keys(
    pg_workspace: Workspace, tmp_path: Path
) -> None:
    key = tmp_path / "alice.pem"
    pg_workspace.actor = "alice"
    create_signing_key(pg_workspace, actor="alice", path=key)
    pg_workspace.signer = load_signer(key, "alice")
    run_ids = _runs(pg_workspace, 2)
    pinned = trusted_keys(pg_workspace)
    assert [k.actor for k in pinned] == ["alice"]
    assert verify_workspace(pg_workspace, trusted=pinned).ok  # and remembered
    forged = tmp_path / "mallory.pem"
    generate_key(forged)
    mallory = load_signer(forged, "alice")
    # Edit a sealed param, re-seal the runs, swap alice's key for the attacker's, re-sign it all.
    with pg_workspace.write() as conn:
        conn.execute(sa.text("UPDATE params SET value = '99', value_num = 99 WHERE key = 'i'"))
        for run_id in run_ids:
            conn.execute(
                sa.text("UPDATE runs SET record_digest = :d WHERE id = :r"),
                {"d": run_record_digest(conn, run_id), "r": run_id},
            )
        for entry in list(iter_entries(conn)):
            if entry.kind == "key.registered" and entry.payload["actor"] == "alice":
                _set_payload(
                    conn, entry.seq, {**entry.payload, "public_key": mallory.public_key_hex}
                )
            elif entry.kind == "run.finished":
                digest = run_record_digest(conn, entry.payload["run_id"])
                _set_payload(conn, entry.seq, {**entry.payload, "record_digest": digest})
        conn.execute(
            sa.text("UPDATE ledger_keys SET public_key = :k WHERE actor = 'alice'"),
            {"k": mallory.public_key_hex},
        )
    _rehash(pg_workspace, mallory)
    # Without anchors the forgery is consistent...
    assert verify_workspace(pg_workspace, remember=False).ok, _reasons(
        verify_workspace(pg_workspace, remember=False)
    )
    # ...but not against the pinned keys, nor against what this user last verified.
    report = verify_workspace(pg_workspace, trusted=pinned, remember=False)
    assert "not by a trusted key of theirs" in _reasons(report)
    remembered = verify_workspace(pg_workspace)
    assert any(p.id == "last verified" for p in remembered.problems)


@pytest.fixture
def database_copies(_postgres_cluster: _PostgresCluster) -> Iterator[list[str]]:
    """Names of databases a test makes; each is dropped afterwards."""
    names: list[str] = []
    yield names
    for name in names:
        _postgres_cluster.admin(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


def test_a_fork_cannot_extend_the_other_branchs_checkpoint(
    fresh_postgres_url: str,
    _postgres_cluster: _PostgresCluster,
    database_copies: list[str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("LABLEDGER_STORE", str(tmp_path / "objects"))
    with Workspace.init(fresh_postgres_url) as ws:
        _runs(ws, 2)
        base = make_checkpoint(ws)
    # A copy of the whole database, as someone restoring a backup elsewhere makes one.
    source = sa.make_url(fresh_postgres_url).database
    fork_name = f"fork_{uuid.uuid4().hex[:12]}"
    database_copies.append(fork_name)
    _postgres_cluster.admin(f"CREATE DATABASE {fork_name} TEMPLATE {source}")
    with (
        Workspace.open(fresh_postgres_url) as ws,
        Workspace.open(_postgres_cluster.url(fork_name)) as fork,
    ):
        with fork.read() as a, ws.read() as b:
            assert workspace_id(a) == workspace_id(b)  # the same workspace, as far as ids go
        _runs(ws, 1, prefix="main")
        ahead = make_checkpoint(ws)
        _runs(fork, 2, prefix="fork")
        fork_checkpoint = make_checkpoint(fork)
        assert fork_checkpoint.size > ahead.size
        # Both extend the common checkpoint...
        assert verify_workspace(fork, checkpoint=base, remember=False).ok
        assert verify_workspace(ws, checkpoint=base, remember=False).ok
        # ...but neither extends the other branch's.
        report = verify_workspace(fork, checkpoint=ahead, remember=False)
        assert "fork" in _reasons(report)
        report = verify_workspace(ws, checkpoint=fork_checkpoint, remember=False)
        assert "cut from its end" in _reasons(report) or "fork" in _reasons(report)


# --- 3. offline proofs from a PostgreSQL + S3 workspace ---------------------------------------------


@pytest.fixture
def team_env(
    monkeypatch: pytest.MonkeyPatch,
    fresh_postgres_url: str,
    s3_server: S3Server,
    s3_bucket_url: str,
) -> dict[str, str]:
    """A PostgreSQL + S3 workspace configured from the environment; returns that environment."""
    env = {
        "LABLEDGER_URI": fresh_postgres_url,
        "LABLEDGER_STORE": s3_bucket_url,
        "LABLEDGER_S3_ENDPOINT_URL": s3_server.endpoint_url,
        "AWS_ACCESS_KEY_ID": s3_server.access_key,
        "AWS_SECRET_ACCESS_KEY": s3_server.secret_key,
    }
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    Workspace.init(fresh_postgres_url).close()  # as `labledger init`: opening never creates
    return env


def _cli(
    args: list[str], cwd: Path, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """``python -m labledger ARGS`` in a fresh process that sees only ``env`` (no workspace)."""
    return subprocess.run(
        [sys.executable, "-m", "labledger", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        env=subprocess_env(
            base={
                "PATH": "/usr/bin:/bin",
                "HOME": str(cwd),
                "LABLEDGER_STATE_DIR": str(cwd / "state"),
                **(env or {}),
            }
        ),
        check=False,
        timeout=120,
    )


def _proof_and_file(ws: Workspace, ref: str, folder: Path) -> tuple[Path, Path]:
    proof = folder / "proof.json"
    proof.write_text(json.dumps(make_proof(ws, ref)))
    artifact = labledger.tracking.export_artifact(ref, folder / "artifact.json", workspace=ws)
    return proof, Path(artifact)


def test_an_unsigned_proof_from_postgres_and_s3_is_checked_without_the_workspace(
    team_env: dict[str, str], tmp_path: Path
) -> None:
    with Workspace.open() as ws:
        assert ws.catalog.dialect == "postgresql" and "s3" in ws.settings.store_url
        _runs(ws, 3)
        proof, artifact = _proof_and_file(ws, "rmodel-1.json", tmp_path)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    result = _cli(["verify-proof", str(proof), "--file", str(artifact)], elsewhere)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "ok: the entry is in the checkpoint's ledger" in result.stdout
    assert "is the proven artifact" in result.stdout
    assert "the checkpoint is unsigned" in result.stdout
    # Pinning keys cannot be satisfied by an unsigned checkpoint.
    keys = elsewhere / "keys.txt"
    keys.write_text(f"alice {'11' * 32}\n")
    pinned = _cli(["verify-proof", str(proof), "--trusted-keys", str(keys)], elsewhere)
    assert pinned.returncode == 1
    assert "not signed by any of the trusted keys" in pinned.stdout


def test_a_signed_proof_holds_against_exported_keys_and_fails_against_others(
    team_env: dict[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    key = tmp_path / "alice.pem"
    generate_key(key)
    monkeypatch.setenv("LABLEDGER_SIGNING_KEY", str(key))
    monkeypatch.setenv("LABLEDGER_USER", "alice")
    writer_env = {**team_env, "LABLEDGER_SIGNING_KEY": str(key), "LABLEDGER_USER": "alice"}
    with Workspace.open() as ws:
        assert ws.signer is not None and ws.actor == "alice"
        assert create_signing_key(ws, path=key).newly_registered
        _runs(ws, 2)
        proof, artifact = _proof_and_file(ws, "rmodel-0.json", tmp_path)
        assert [s["actor"] for s in json.loads(proof.read_text())["checkpoint"]["signatures"]] == [
            "alice"
        ]
    exported = _cli(["keys", "export", "-o", str(tmp_path / "keys.json")], tmp_path, writer_env)
    assert exported.returncode == 0, exported.stdout + exported.stderr
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    keys = str(tmp_path / "keys.json")
    result = _cli(
        ["verify-proof", str(proof), "--file", str(artifact), "--trusted-keys", keys], elsewhere
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "ok: the entry is in the checkpoint's ledger" in result.stdout
    assert "unsigned" not in result.stdout
    unpinned = _cli(["verify-proof", str(proof)], elsewhere)
    assert unpinned.returncode == 0
    assert "not compared with trusted keys" in unpinned.stdout
    stranger = elsewhere / "stranger.txt"
    stranger.write_text(f"alice {'22' * 32}\n")
    refused = _cli(["verify-proof", str(proof), "--trusted-keys", str(stranger)], elsewhere)
    assert refused.returncode == 1
    assert "not signed by any of the trusted keys" in refused.stdout


# --- 4. concurrent writers -------------------------------------------------------------------------

WRITERS = 6
RUNS = 6


def test_concurrent_writers_leave_one_whole_log(
    pg_workspace: Workspace, fresh_postgres_url: str, tmp_path: Path
) -> None:
    env = subprocess_env()
    writers, checkpointer, go, stop = ledger_writers.start(
        fresh_postgres_url, WRITERS, RUNS, tmp_path, env
    )
    go.write_text("go")
    # Verifying while they write sees one consistent state of the catalog, never a torn one.
    during = []
    while any(child.poll() is None for child in writers):
        during.append(verify_workspace(pg_workspace, blobs=False, remember=False))
    outcomes = ledger_writers.wait(writers, checkpointer, stop)
    for code, out, err in outcomes:
        assert code == 0, out + err
    assert int(outcomes[-1][1].split()[-1]) > 0
    assert len(during) > 1
    assert [p for report in during for p in report.problems] == []
    ledger_writers.check_log(pg_workspace, WRITERS, RUNS)


# --- 5. the migration to revision 0004 -------------------------------------------------------------

_WIDENED = (
    "metrics.id",
    "metrics.step",
    "latest_metrics.step",
    "blobs.size",
    "artifacts.size",
    "ledger.seq",
)


def test_a_catalog_at_revision_0003_gets_a_dense_ledger_a_workspace_id_and_64_bit_columns(
    fresh_postgres_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from alembic import command
    from alembic.config import Config

    from labledger._foundation.errors import SchemaOutdatedError
    from labledger.workspace import schema
    from labledger.workspace.catalog import HEAD_REVISION, Catalog
    from labledger.workspace.ledger import append_entry

    monkeypatch.setenv("LABLEDGER_STORE", str(tmp_path / "objects"))
    catalog = Catalog(fresh_postgres_url)
    config = Config()
    config.set_main_option("script_location", str(Path(schema.__file__).with_name("migrations")))
    try:
        with catalog.writer.begin() as conn:
            config.attributes["connection"] = conn
            command.upgrade(config, "0003")
            # Revision 0001 makes its tables from today's schema; as it shipped, these were 32-bit.
            for column in _WIDENED:
                table, name = column.split(".")
                conn.execute(sa.text(f"ALTER TABLE {table} ALTER COLUMN {name} TYPE INTEGER"))
        for i in range(6):
            with catalog.writer.begin() as conn:
                append_entry(conn, "test.event", subject=f"t:{i}", payload={"i": i}, actor="ana")
        with catalog.writer.begin() as conn:
            # Gaps as a PostgreSQL sequence leaves them after rolled-back appends.
            conn.execute(sa.text("UPDATE ledger SET seq = seq + 1000 WHERE seq > 2"))
            conn.execute(sa.text("UPDATE ledger SET seq = seq + 1000 WHERE seq > 1004"))
            found = list(conn.execute(sa.text("SELECT seq FROM ledger ORDER BY seq")).scalars())
            types = _column_types(conn)
        assert found == [1, 2, 1003, 1004, 2005, 2006]
        assert types["metrics.step"] == "integer"
        assert catalog.revision() == "0003"
    finally:
        catalog.dispose()
    with pytest.raises(SchemaOutdatedError, match="labledger migrate"):
        Workspace.open(fresh_postgres_url)
    assert Workspace.migrate(fresh_postgres_url).from_revision == "0003"
    with Workspace.open(fresh_postgres_url) as ws:
        assert ws.catalog.revision() == HEAD_REVISION
        with ws.read() as conn:
            entries = list(iter_entries(conn))
            assert [e.seq for e in entries] == [1, 2, 3, 4, 5, 6]
            assert [e.payload["i"] for e in entries] == list(range(6))
            assert len(workspace_id(conn)) == 36
            types = _column_types(conn)
        for column in _WIDENED:
            assert types[column] == "bigint", column
        report = verify_workspace(ws)
        assert report.ok, report.problems
        assert report.tree_size == 6
        # A step beyond 32 bits fits now.
        with labledger.start_run("big", workspace=ws) as run:
            run.log_metric("loss", 0.5, step=2**40)
        history = labledger.get_metric_history(run.id, "loss", workspace=ws)
        assert [p.step for p in history] == [2**40]
        assert verify_workspace(ws).ok


def _column_types(conn: sa.Connection) -> dict[str, str]:
    rows = conn.execute(
        sa.text(
            "SELECT table_name, column_name, data_type FROM information_schema.columns "
            "WHERE table_schema = 'public'"
        )
    )
    return {f"{table}.{column}": kind for table, column, kind in rows}


def test_a_body_signed_before_others_write_is_chained_on_postgres(
    pg_workspace: Workspace, fresh_postgres_url: str, tmp_path: Path
) -> None:
    from labledger._foundation.errors import ValidationError
    from labledger.workspace.keys import register_key
    from labledger.workspace.ledger import verify_chain
    from labledger.workspace.signed_entries import append_signed_entry
    from labledger.workspace.signing import EntryBody

    generate_key(tmp_path / "alice.pem")
    alice = load_signer(tmp_path / "alice.pem", "alice")
    register_key(pg_workspace, "alice", alice.public_key_hex, signer=alice)
    body = EntryBody.new(
        "model.approved",
        subject="model:churn",
        payload={"version": 3},
        actor="alice",
        key_id=alice.public_key_hex,
    )
    signature = alice.sign_body(body)
    with Workspace.open(fresh_postgres_url, actor="carol") as other:
        _runs(other, 1)  # another writer moves the head meanwhile
    with pg_workspace.write() as conn:
        entry = append_signed_entry(conn, body, signature)
    with pg_workspace.read() as conn:
        assert verify_chain(conn)[1] == []
        stored = [e for e in iter_entries(conn) if e.id == body.id]
    assert [(e.seq, e.signature) for e in stored] == [(entry.seq, signature)]
    with pytest.raises(ValidationError, match="already"), pg_workspace.write() as conn:
        append_signed_entry(conn, body, signature)
