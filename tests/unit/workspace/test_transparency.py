"""The chain of trust against an attacker who can write the catalog: truncation, rewrites with a
re-signed chain, downgrades, forks, and inclusion proofs checked without the workspace."""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import subprocess
import sys
from typing import TYPE_CHECKING

import pytest

import labledger
from labledger.workspace.checkpoints import load_checkpoint, make_checkpoint
from labledger.workspace.keys import create_signing_key, revoke_key, rotate_key, trusted_keys
from labledger.workspace.ledger import _body, entry_hash, iter_entries
from labledger.workspace.proofs import check_proof, make_proof
from labledger.workspace.signing import Signer, generate_key, load_signer
from labledger.workspace.trusted_keys import TrustedKey
from labledger.workspace.verify import verify_workspace
from labledger.workspace.workspace import Workspace
from tests.conftest import subprocess_env

if TYPE_CHECKING:
    from pathlib import Path


def _db(ws: Workspace) -> sqlite3.Connection:
    assert ws.settings.root is not None
    return sqlite3.connect(ws.settings.root / "catalog.db")


def _runs(ws: Workspace, count: int) -> list[str]:
    ids = []
    for i in range(count):
        with labledger.start_run(f"r{i}", params={"i": i}, workspace=ws) as run:
            run.log_metric("auc", 0.5 + i / 100)
            run.log_artifact({"weights": [i]}, name=f"model-{i}.json")
        ids.append(run.id)
    return ids


def _rehash(ws: Workspace, signer: Signer | None = None, *, drop_anchors: bool = True) -> None:
    """What an attacker with write access does after editing: make the chain whole again."""
    db = _db(ws)
    prev = "blake3:" + "0" * 64
    rows = db.execute(
        "SELECT seq, id, kind, actor, subject, payload_json, created_at FROM ledger ORDER BY seq"
    ).fetchall()
    for new_seq, (seq, id_, kind, actor, subject, payload, created) in enumerate(rows, 1):
        document = json.loads(payload)
        if isinstance(document, dict) and "checkpoint" in document:
            # The checkpoints signed into seals would give the rewrite away: strip them too.
            del document["checkpoint"]
            stripped = json.dumps(document, sort_keys=True, separators=(",", ":"))
            db.execute("UPDATE ledger SET payload_json = ? WHERE id = ?", (stripped, id_))
        body = _body(id_, kind, actor, subject, document, created)
        hash_ = entry_hash(prev, body)
        signature = signer.sign(hash_) if signer is not None and signer.actor == actor else None
        db.execute(
            "UPDATE ledger SET seq = ?, prev_hash = ?, hash = ?, signature = ? WHERE id = ?",
            (-new_seq, prev, hash_, signature, id_),
        )
        prev = hash_
    db.execute("UPDATE ledger SET seq = -seq")
    if drop_anchors:
        db.execute("DELETE FROM ledger_tree")
        db.execute("DELETE FROM ledger_checkpoints")
    db.commit()
    db.close()


def _truncate(ws: Workspace, count: int) -> None:
    db = _db(ws)
    db.execute("DELETE FROM ledger WHERE seq > (SELECT max(seq) FROM ledger) - ?", (count,))
    db.execute("DELETE FROM ledger_tree")
    db.execute("DELETE FROM ledger_checkpoints")
    db.commit()
    db.close()


def _reasons(report: object) -> str:
    return "\n".join(p.reason for p in report.problems)  # type: ignore[attr-defined]


@pytest.mark.parametrize("cut", [1, 5])
def test_truncation_is_found_by_a_checkpoint_and_by_the_last_verify(
    workspace: Workspace, cut: int
) -> None:
    _runs(workspace, 3)
    assert verify_workspace(workspace).ok  # remembered in the state folder
    checkpoint = make_checkpoint(workspace)
    _truncate(workspace, cut)
    # A hash chain alone cannot see it: the remaining entries are intact.
    assert not any(
        p.kind == "ledger" and "entry #" in p.reason
        for p in verify_workspace(workspace, remember=False).problems
    )
    report = verify_workspace(workspace, checkpoint=checkpoint, remember=False)
    assert f"{cut} entr" in _reasons(report) and "cut from its end" in _reasons(report)
    plain = verify_workspace(workspace)
    assert not plain.ok
    assert any(p.id == "last verified" and "cut from its end" in p.reason for p in plain.problems)


def test_a_rewritten_and_resigned_chain_fails_against_pinned_keys(
    workspace: Workspace, tmp_path: Path
) -> None:
    key = tmp_path / "alice.pem"
    generate_key(key)
    workspace.actor = "alice"
    workspace.signer = load_signer(key, "alice")
    create_signing_key(workspace, actor="alice", path=key)
    _runs(workspace, 2)
    pinned = trusted_keys(workspace)
    assert {k.actor for k in pinned} == {"alice", "workspace"}
    assert verify_workspace(workspace, trusted=pinned, remember=False).ok
    # The attacker edits a sealed param, swaps in their own key for alice and re-signs it all.
    forged = tmp_path / "mallory.pem"
    generate_key(forged)
    mallory = load_signer(forged, "alice")
    db = _db(workspace)
    db.execute("UPDATE params SET value = '99', value_num = 99 WHERE key = 'i'")
    for seq, payload in db.execute(
        "SELECT seq, payload_json FROM ledger WHERE kind = 'key.registered'"
    ).fetchall():
        doc = json.loads(payload)
        if doc["actor"] == "alice":
            doc["public_key"] = mallory.public_key_hex
            db.execute(
                "UPDATE ledger SET payload_json = ? WHERE seq = ?",
                (json.dumps(doc, sort_keys=True, separators=(",", ":")), seq),
            )
    db.execute(
        "UPDATE ledger_keys SET public_key = ? WHERE actor = 'alice'", (mallory.public_key_hex,)
    )
    db.commit()
    db.close()
    with workspace.read() as conn:
        from labledger.workspace.records import run_record_digest

        runs = [e.payload["run_id"] for e in iter_entries(conn, kind="run.finished")]
        digests = {r: run_record_digest(conn, r) for r in runs}
    db = _db(workspace)
    for seq, payload in db.execute(
        "SELECT seq, payload_json FROM ledger WHERE kind = 'run.finished'"
    ):
        doc = json.loads(payload)
        doc["record_digest"] = digests[doc["run_id"]]
        db.execute(
            "UPDATE ledger SET payload_json = ? WHERE seq = ?",
            (json.dumps(doc, sort_keys=True, separators=(",", ":")), seq),
        )
    db.execute("UPDATE runs SET record_digest = (SELECT record_digest FROM runs)")  # no-op shape
    db.commit()
    db.close()
    for run_id, digest in digests.items():
        db = _db(workspace)
        db.execute("UPDATE runs SET record_digest = ? WHERE id = ?", (digest, run_id))
        db.commit()
        db.close()
    _rehash(workspace, mallory)
    # Without anchors the forgery is consistent...
    assert verify_workspace(workspace, remember=False).ok
    # ...but not against the pinned keys.
    report = verify_workspace(workspace, trusted=pinned, remember=False)
    assert "not by a trusted key of theirs" in _reasons(report)
    assert "registration" in _reasons(report)


def test_stripping_signatures_and_the_registration_is_a_downgrade_pinned_keys_catch(
    workspace: Workspace, tmp_path: Path
) -> None:
    key = tmp_path / "alice.pem"
    workspace.actor = "alice"
    create_signing_key(workspace, actor="alice", path=key)
    workspace.signer = load_signer(key, "alice")
    _runs(workspace, 2)
    pinned = [k for k in trusted_keys(workspace) if k.actor == "alice"]
    assert pinned[0].registered_entry is not None
    assert verify_workspace(workspace).ok  # remembers alice's registration
    db = _db(workspace)
    db.execute("DELETE FROM ledger WHERE kind = 'key.registered' AND payload_json LIKE '%alice%'")
    db.execute("UPDATE ledger SET signature = NULL")
    db.execute("DELETE FROM ledger_keys WHERE actor = 'alice'")
    db.commit()
    db.close()
    _rehash(workspace)
    assert verify_workspace(workspace, remember=False).ok  # nothing in the catalog says otherwise
    report = verify_workspace(workspace, trusted=pinned, remember=False)
    assert "registration" in _reasons(report)
    # Only the pin's key id is needed: a key pinned without its entry is caught too.
    bare = [TrustedKey(k.actor, k.public_key) for k in pinned]
    assert "never registered" in _reasons(verify_workspace(workspace, trusted=bare, remember=False))
    assert "stripped" in _reasons(verify_workspace(workspace))  # the last verify remembers


def test_a_fork_cannot_extend_the_other_branchs_checkpoint(
    workspace: Workspace, tmp_path: Path
) -> None:
    _runs(workspace, 2)
    base = make_checkpoint(workspace)
    assert workspace.settings.root is not None
    copy_root = tmp_path / "fork"
    shutil.copytree(
        workspace.settings.root.parent, copy_root, ignore=shutil.ignore_patterns("fork")
    )
    _runs(workspace, 1)
    ahead = make_checkpoint(workspace)
    with Workspace.open(copy_root) as fork:
        with fork.write() as conn:
            for i in range(4):
                fork.record(conn, "test.event", f"t:{i}", {"i": i})
        # Both extend the common checkpoint...
        assert verify_workspace(fork, checkpoint=base, remember=False).ok
        assert verify_workspace(workspace, checkpoint=base, remember=False).ok
        # ...but the fork does not extend the other branch's.
        assert fork.settings.root is not None
        report = verify_workspace(fork, checkpoint=ahead, remember=False)
        assert "fork" in _reasons(report)
        assert not verify_workspace(workspace, checkpoint=make_checkpoint(fork), remember=False).ok


def test_a_checkpoint_of_another_workspace_or_badly_signed_is_refused(
    workspace: Workspace,
    workspace_factory,  # type: ignore[no-untyped-def]
) -> None:
    _runs(workspace, 1)
    other = workspace_factory()
    _runs(other, 1)
    report = verify_workspace(workspace, checkpoint=make_checkpoint(other), remember=False)
    assert "is of workspace" in _reasons(report)
    checkpoint = make_checkpoint(workspace)
    document = checkpoint.to_dict()
    document["signatures"][0]["signature"] = "00" * 64
    bad = load_checkpoint(json.dumps(document))
    assert "signature by workspace" in _reasons(
        verify_workspace(workspace, checkpoint=bad, remember=False)
    )
    stranger = TrustedKey("workspace", "11" * 32)
    report = verify_workspace(workspace, checkpoint=checkpoint, trusted=[stranger], remember=False)
    assert "not signed by any of the trusted keys" in _reasons(report)


def _proof_file(ws: Workspace, tmp_path: Path, ref: str) -> Path:
    path = tmp_path / "proof.json"
    path.write_text(json.dumps(make_proof(ws, ref)))
    return path


def test_an_inclusion_proof_is_checked_by_a_fresh_process_without_the_workspace(
    workspace: Workspace, tmp_path: Path
) -> None:
    _runs(workspace, 3)
    proof = _proof_file(workspace, tmp_path, "model-1.json")
    model = tmp_path / "model.json"
    assert workspace.settings.root is not None
    with workspace.read() as conn:
        from labledger.workspace.lookup import find_artifact

        digest = find_artifact(conn, "model-1.json").digest
    with workspace.store.open(digest) as handle:
        model.write_bytes(handle.read())
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    result = subprocess.run(
        [sys.executable, "-m", "labledger", "verify-proof", str(proof), "--file", str(model)],
        cwd=elsewhere,
        capture_output=True,
        text=True,
        env={"PATH": "/usr/bin:/bin", "HOME": str(elsewhere)},
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "ok: the entry is in the checkpoint's ledger" in result.stdout
    assert "is the proven artifact" in result.stdout


def test_a_tampered_proof_is_rejected(workspace: Workspace, tmp_path: Path) -> None:
    run_ids = _runs(workspace, 3)
    document = json.loads(_proof_file(workspace, tmp_path, run_ids[1]).read_text())
    assert check_proof(document).ok
    assert document["subject"]["kind"] == "run"
    edits = {
        "leaf": lambda d: d["entry"].update(leaf=d["entry"]["leaf"].replace("finished", "failed")),
        "index": lambda d: d["entry"].update(index=d["entry"]["index"] + 1),
        "path": lambda d: d["audit_path"].__setitem__(0, "00" * 32),
        "root": lambda d: d["checkpoint"].update(root="11" * 32),
        "size": lambda d: d["checkpoint"].update(size=d["checkpoint"]["size"] + 1),
    }
    for name, edit in edits.items():
        forged = json.loads(json.dumps(document))
        edit(forged)
        assert not check_proof(forged).ok, name
    wrong_file = tmp_path / "wrong.bin"
    wrong_file.write_bytes(b"not the model")
    artifact_proof = json.loads(_proof_file(workspace, tmp_path, "model-0.json").read_text())
    assert "hashes to" in "\n".join(check_proof(artifact_proof, file=wrong_file).problems)


def test_key_rotation_and_revocation_are_signed_ledger_entries(
    workspace: Workspace, tmp_path: Path
) -> None:
    key = tmp_path / "alice.pem"
    workspace.actor = "alice"
    create_signing_key(workspace, actor="alice", path=key)
    workspace.signer = load_signer(key, "alice")
    old = workspace.signer.public_key_hex
    _runs(workspace, 1)
    pinned = trusted_keys(workspace)
    new_key = rotate_key(workspace, tmp_path / "alice-2.pem")
    _runs(workspace, 1)  # signed with the new key
    assert verify_workspace(workspace, trusted=pinned, remember=False).ok
    # The old key signs nothing valid after the rotation.
    workspace.signer = load_signer(key, "alice")
    _runs(workspace, 1)
    report = verify_workspace(workspace, trusted=pinned, remember=False)
    assert "signature by alice is invalid" in _reasons(report)
    # A revocation makes the new key's later signatures invalid too.
    workspace.signer = load_signer(tmp_path / "alice-2.pem", "alice")
    revoke_key(workspace, "alice", new_key.public_key, "laptop lost")
    with workspace.read() as conn:
        kinds = [e.kind for e in iter_entries(conn) if e.kind.startswith("key.")]
    assert kinds[-2:] == ["key.rotated", "key.revoked"]
    assert old != new_key.public_key


def test_cross_checks_find_rows_without_entries_and_entries_without_rows(
    workspace: Workspace,
) -> None:
    _runs(workspace, 2)
    assert verify_workspace(workspace).ok
    db = _db(workspace)
    other = db.execute("SELECT digest FROM blobs ORDER BY digest LIMIT 1").fetchone()[0]
    first, second = [r[0] for r in db.execute("SELECT id FROM artifacts ORDER BY created_at")]
    db.execute("UPDATE artifacts SET digest = ? WHERE id = ?", (other, first))
    db.execute("DELETE FROM artifacts WHERE id = ?", (second,))
    db.commit()
    db.close()
    reasons = _reasons(verify_workspace(workspace, remember=False))
    assert "but its artifact.produced entry says" in reasons or "points at blob" in reasons
    assert "records it as produced, but its row is gone" in reasons


def test_pipeline_outputs_get_their_artifact_produced_entries_at_the_seal(
    workspace: Workspace,
) -> None:
    from labledger.pipelines import pipeline, step

    @step
    def double(x: int) -> int:
        return 2 * x

    @pipeline
    def twice(x: int = 3) -> int:
        return double(double(x))

    labledger.set_workspace(workspace)
    result = (
        twice.run(workspace=workspace)
        if "workspace" in twice.run.__code__.co_varnames
        else twice.run()
    )
    with workspace.read() as conn:
        batches = list(iter_entries(conn, kind="artifacts.produced"))
        produced = {item[0] for e in batches for item in e.payload["artifacts"]}
        from sqlalchemy import select

        from labledger.workspace import schema

        artifacts = set(conn.execute(select(schema.artifacts.c.id)).scalars())
    assert artifacts and artifacts == produced
    assert len(batches) == 1  # one entry names all of the run's outputs
    assert verify_workspace(workspace).ok
    assert check_proof(make_proof(workspace, sorted(artifacts)[0])).ok
    assert result is not None


def test_verify_while_another_process_writes_sees_one_consistent_snapshot(
    workspace: Workspace, tmp_path: Path
) -> None:
    assert workspace.settings.root is not None
    script = (
        "import sys, labledger\n"
        "ws = labledger.open_workspace(sys.argv[1])\n"
        "for i in range(60):\n"
        "    with labledger.start_run(f'w{i}', params={'i': i}, workspace=ws) as run:\n"
        "        run.log_artifact({'i': i}, name='a.json')\n"
    )
    writer = subprocess.Popen(
        [sys.executable, "-c", script, str(workspace.settings.root.parent)],
        env=subprocess_env(),
    )
    try:
        reports = []
        while writer.poll() is None:
            reports.append(verify_workspace(workspace, blobs=False, remember=False))
    finally:
        writer.wait(timeout=120)
    assert writer.returncode == 0
    assert reports, "the writer finished before verify ran"
    assert all(r.ok for r in reports), [r.problems for r in reports if not r.ok][:1]
    assert verify_workspace(workspace).ok


def _append_forged(ws: Workspace, kind: str, subject: str, payload: dict, actor: str) -> None:  # type: ignore[type-arg]
    """An attacker's entry: correctly chained, unsigned, under any name."""
    import time
    import uuid

    from labledger._foundation.canonical import canonical_text

    db = _db(ws)
    seq, prev = db.execute("SELECT seq, hash FROM ledger ORDER BY seq DESC LIMIT 1").fetchone()
    id_, now = str(uuid.uuid4()), time.time()
    hash_ = entry_hash(prev, _body(id_, kind, actor, subject, payload, now))
    db.execute(
        "INSERT INTO ledger (seq, id, kind, actor, subject, payload_json, created_at, prev_hash, "
        "hash) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (seq + 1, id_, kind, actor, subject, canonical_text(payload), now, prev, hash_),
    )
    db.commit()
    db.close()


def test_a_second_seal_or_produced_entry_cannot_re_point_a_sealed_result(
    workspace: Workspace, tmp_path: Path
) -> None:
    from labledger.workspace.records import metric_summary, run_record_digest

    (run_id,) = _runs(workspace, 1)
    assert verify_workspace(workspace).ok
    evil = workspace.store.put(b"evil model")
    db = _db(workspace)
    db.execute("INSERT OR IGNORE INTO blobs (digest, size, created_at) VALUES (?, 10, 0)", (evil,))
    artifact_id = db.execute("SELECT id FROM artifacts WHERE run_id = ?", (run_id,)).fetchone()[0]
    db.execute("UPDATE artifacts SET digest = ? WHERE id = ?", (evil, artifact_id))
    db.execute("UPDATE metrics SET value = 0.99 WHERE run_id = ?", (run_id,))
    db.execute("UPDATE latest_metrics SET value = 0.99 WHERE run_id = ?", (run_id,))
    db.commit()
    db.close()
    with workspace.read() as conn:
        record, summary = run_record_digest(conn, run_id), metric_summary(conn, run_id)
    _append_forged(
        workspace,
        "artifact.produced",
        f"artifact:{artifact_id}",
        {"artifact_id": artifact_id, "name": "model-0.json", "digest": evil, "run_id": run_id},
        "mallory",
    )
    _append_forged(
        workspace,
        "run.finished",
        f"run:{run_id}",
        {"run_id": run_id, "status": "finished", "record_digest": record, "metrics": summary},
        "mallory",
    )
    db = _db(workspace)
    db.execute("UPDATE runs SET record_digest = ? WHERE id = ?", (record, run_id))
    db.commit()
    db.close()
    reasons = _reasons(verify_workspace(workspace, remember=False))
    assert "seals it again" in reasons
    assert "records it as produced again" in reasons


def test_checkpoints_are_signed_over_the_entries_not_a_forged_stored_tree(
    workspace: Workspace,
) -> None:
    from labledger.workspace.merkle import leaf_hash, node_hash

    _runs(workspace, 2)
    honest = make_checkpoint(workspace).root
    # The attacker forges leaf 0 and every stored ancestor of it.
    db = _db(workspace)
    forged = leaf_hash(b"forged")
    db.execute("UPDATE ledger_tree SET hash = ? WHERE level = 0 AND idx = 0", (forged.hex(),))
    level, idx, value = 0, 0, forged
    while True:
        sibling = db.execute(
            "SELECT hash FROM ledger_tree WHERE level = ? AND idx = ?", (level, idx ^ 1)
        ).fetchone()
        parent = db.execute(
            "SELECT 1 FROM ledger_tree WHERE level = ? AND idx = ?", (level + 1, idx // 2)
        ).fetchone()
        if sibling is None or parent is None:
            break
        pair = (
            (value, bytes.fromhex(sibling[0]))
            if idx % 2 == 0
            else (bytes.fromhex(sibling[0]), value)
        )
        value, level, idx = node_hash(*pair), level + 1, idx // 2
        db.execute(
            "UPDATE ledger_tree SET hash = ? WHERE level = ? AND idx = ?", (value.hex(), level, idx)
        )
    db.commit()
    db.close()
    workspace.ledger_tip = None  # a new process of the victim's
    fresh = make_checkpoint(workspace)
    with workspace.read() as conn:
        from labledger.workspace.ledger import walk_chain

        assert fresh.root == walk_chain(conn).root  # from the entries, whatever the tree says
    assert honest == fresh.root  # no entry was added: the same root, not the forged one
    # A proof made now is still right: the tree is rebuilt when it disagrees.
    document = make_proof(workspace, "model-0.json")
    assert check_proof(document).ok


def test_a_deleted_blobs_row_neither_hides_a_missing_blob_nor_lets_gc_delete_it(
    workspace: Workspace,
) -> None:
    from labledger.workspace.gc import collect_garbage

    _runs(workspace, 1)
    db = _db(workspace)
    digest = db.execute("SELECT digest FROM artifacts LIMIT 1").fetchone()[0]
    db.execute("PRAGMA foreign_keys = OFF")
    db.execute("DELETE FROM blobs WHERE digest = ?", (digest,))
    db.commit()
    db.close()
    report = collect_garbage(workspace, grace_s=0)
    assert digest not in report.unreferenced
    assert workspace.store.exists(digest)
    path = workspace.store.path_of(digest)  # type: ignore[attr-defined]
    os.chmod(path, 0o600)
    os.unlink(path)
    reasons = _reasons(verify_workspace(workspace, remember=False))
    assert "missing from the store; needed by artifact 'model-0.json'" in reasons


def test_an_unsigned_second_key_for_an_actor_is_refused(
    workspace: Workspace, tmp_path: Path
) -> None:
    key = tmp_path / "alice.pem"
    workspace.actor = "alice"
    create_signing_key(workspace, actor="alice", path=key)
    workspace.signer = load_signer(key, "alice")
    _runs(workspace, 1)
    generate_key(tmp_path / "mallory.pem")
    mallory = load_signer(tmp_path / "mallory.pem", "alice")
    _append_forged(
        workspace,
        "key.registered",
        "key:alice",
        {"actor": "alice", "public_key": mallory.public_key_hex},
        "nobody",
    )
    workspace.signer = mallory
    _runs(workspace, 1)
    reasons = _reasons(verify_workspace(workspace, remember=False))
    assert "an actor registers their own key" in reasons
    assert "signature by alice is invalid" in reasons


@pytest.mark.parametrize(
    "edit",
    [
        lambda d: d["checkpoint"].update(root="zz" * 32),
        lambda d: d["checkpoint"].update(time=10**400),
        lambda d: d["checkpoint"].update(time=1e300),
        lambda d: d["checkpoint"].update(time=float("nan")),
        lambda d: d["entry"].update(
            leaf=d["entry"]["leaf"].replace('"created_at":', '"created_at":1e300,"x":')
        ),
        lambda d: d["entry"].update(index=True),
        lambda d: d.update(audit_path=["00" * 32] * 100),
        lambda d: d["checkpoint"].update(signatures={"a": 1}),
        lambda d: d["subject"].update(digest="blake3:" + "0" * 64),
    ],
)
def test_a_malformed_proof_is_refused_without_a_traceback(
    workspace: Workspace,
    tmp_path: Path,
    edit,  # type: ignore[no-untyped-def]
) -> None:
    _runs(workspace, 1)
    document = make_proof(workspace, "model-0.json")
    edit(document)
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(document))
    result = subprocess.run(
        [sys.executable, "-m", "labledger", "verify-proof", str(path)],
        capture_output=True,
        text=True,
        check=False,
        env=subprocess_env(),
    )
    assert result.returncode == 1, result.stdout
    assert "Traceback" not in result.stderr + result.stdout


@pytest.mark.parametrize(
    "text", ["[" * 100_000, '{"format": "labledger-proof/1", "x": ' + "9" * 5000 + "}"]
)
def test_hostile_json_is_a_clear_error(tmp_path: Path, text: str) -> None:
    from labledger._foundation.errors import ValidationError
    from labledger.workspace.proofs import load_proof
    from labledger.workspace.trusted_keys import load_trusted_keys

    path = tmp_path / "hostile.json"
    path.write_text(text if text.startswith("{") else "{" + '"k":' + text)
    with pytest.raises(ValidationError):
        load_proof(path)
    with pytest.raises(ValidationError):
        load_trusted_keys(path)
    with pytest.raises(ValidationError):
        load_checkpoint(str(path))


def test_a_registered_key_is_used_without_the_environment_and_rotation_keeps_its_file(
    workspace: Workspace,
) -> None:
    from labledger.workspace.signing import default_key_path

    workspace.actor = "alice"
    created = create_signing_key(workspace, actor="alice")
    assert created.path == default_key_path("alice")
    with Workspace.open(workspace.settings.root.parent, actor="alice") as again:  # type: ignore[union-attr]
        _runs(again, 1)  # no LABLEDGER_SIGNING_KEY: the key at the default path signs
        assert again.signer is not None
        rotated = rotate_key(again)
        assert load_signer(created.path, "alice").public_key_hex == rotated.public_key
        assert list(created.path.parent.glob("alice.pem.rotated-*"))
    with Workspace.open(workspace.settings.root.parent, actor="alice") as later:  # type: ignore[union-attr]
        _runs(later, 1)  # signed with the new key, found at the same path
    assert verify_workspace(workspace, remember=False).ok


def test_writing_unsigned_after_registering_a_key_warns(
    workspace: Workspace, tmp_path: Path
) -> None:
    from labledger.workspace.signing import UnsignedWriteWarning

    workspace.actor = "alice"
    create_signing_key(workspace, actor="alice", path=tmp_path / "elsewhere.pem")
    with Workspace.open(workspace.settings.root.parent, actor="alice") as again:  # type: ignore[union-attr]
        with pytest.warns(UnsignedWriteWarning, match="LABLEDGER_SIGNING_KEY"):
            _runs(again, 1)


def test_an_artifact_row_nothing_vouches_for_is_found(workspace: Workspace) -> None:
    _runs(workspace, 1)
    evil = workspace.store.put(b"EVIL MODEL BYTES")
    db = _db(workspace)
    db.execute("PRAGMA foreign_keys = OFF")
    db.execute("INSERT OR IGNORE INTO blobs (digest, size, created_at) VALUES (?, 16, 0)", (evil,))
    project = db.execute("SELECT id FROM projects LIMIT 1").fetchone()[0]
    db.execute(
        "INSERT INTO artifacts (id, project_id, name, kind, format, digest, size, schema_json, "
        "stats_json, run_id, created_at, created_by) VALUES "
        "('01a2443b-ffff-7000-8000-000000000001', ?, 'model-0.json', 'bytes', 'bin', ?, 16, "
        "'{}', '{}', '01a2443b-0000-7000-8000-00000000dead', 1896441075.0, 'root')",
        (project, evil),
    )
    db.commit()
    db.close()
    reasons = _reasons(verify_workspace(workspace, remember=False))
    assert "nothing vouches for it" in reasons
    assert "refers to a runs row that does not exist" in reasons


def test_a_proof_is_made_from_the_entry_that_stands_not_a_later_one(workspace: Workspace) -> None:
    from labledger._foundation.errors import IntegrityError

    _runs(workspace, 1)
    db = _db(workspace)
    artifact_id, run_id = db.execute("SELECT id, run_id FROM artifacts LIMIT 1").fetchone()
    db.close()
    _append_forged(
        workspace,
        "artifact.produced",
        f"artifact:{artifact_id}",
        {
            "artifact_id": artifact_id,
            "name": "model-0.json",
            "digest": "blake3:" + "0" * 64,
            "run_id": run_id,
        },
        "root",
    )
    with pytest.raises(IntegrityError, match="more than once"):
        make_proof(workspace, "model-0.json")
