"""verify_workspace: the chain, every referenced blob, and every sealed run record."""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING

import pytest
import sqlalchemy as sa

from labledger.tracking.run import start_run
from labledger.workspace.identity_replay import IdentityReplay
from labledger.workspace.ledger import iter_entries
from labledger.workspace.local_store import LocalBlobStore
from labledger.workspace.verify import verify_workspace

if TYPE_CHECKING:
    from labledger.workspace.workspace import Workspace


def _finished_run(ws: Workspace) -> tuple[str, str]:
    with start_run("verified", params={"lr": 0.1, "model": "gbm"}, workspace=ws) as run:
        for step in range(5):
            run.log_metric("loss", 1.0 / (step + 1))
        artifact = run.log_artifact(b"model weights", name="model")
    return run.id, artifact.digest


def _flip_a_byte(ws: Workspace, digest: str) -> None:
    assert isinstance(ws.store, LocalBlobStore)
    path = ws.store.path_of(digest)
    path.chmod(0o644)
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x01
    path.write_bytes(bytes(data))


def test_a_clean_workspace_verifies(workspace: Workspace) -> None:
    empty = verify_workspace(workspace)
    assert empty.ok
    assert empty.problems == []
    _finished_run(workspace)
    report = verify_workspace(workspace)
    assert report.ok, report.problems
    assert report.entries_checked >= 3  # run.started, artifact.produced, run.finished
    assert report.runs_checked == 1
    assert report.blobs_checked >= 2  # environment and artifact


def test_progress_is_reported(workspace: Workspace) -> None:
    _finished_run(workspace)
    seen: list[tuple[str, int, int]] = []
    verify_workspace(
        workspace, progress=lambda phase, done, total: seen.append((phase, done, total))
    )
    phases = {phase for phase, _, _ in seen}
    assert phases == {"runs", "blobs"}
    assert all(done <= total for _, done, total in seen)


def test_a_flipped_byte_is_a_blob_problem(workspace: Workspace) -> None:
    _, digest = _finished_run(workspace)
    _flip_a_byte(workspace, digest)
    report = verify_workspace(workspace)
    assert not report.ok
    assert [(p.kind, p.id) for p in report.problems] == [("blob", digest)]
    assert "hash to blake3:" in report.problems[0].reason
    # Without re-hashing, the catalog and ledger alone still look fine.
    quick = verify_workspace(workspace, blobs=False)
    assert quick.ok
    assert quick.blobs_checked == 0


def test_a_deleted_blob_is_missing(workspace: Workspace) -> None:
    _, digest = _finished_run(workspace)
    workspace.store.delete(digest)
    report = verify_workspace(workspace)
    assert [(p.kind, p.id) for p in report.problems] == [("blob", digest)]
    assert "missing" in report.problems[0].reason


def _edit(ws: Workspace, statement: str, **params: object) -> None:
    with ws.catalog.writer.begin() as conn:
        conn.execute(sa.text(statement), params)


def test_editing_a_param_of_a_finished_run_is_a_run_problem(workspace: Workspace) -> None:
    run_id, _ = _finished_run(workspace)
    _edit(
        workspace,
        "UPDATE params SET value = '0.2', value_num = 0.2 WHERE run_id = :r AND key = 'lr'",
        r=run_id,
    )
    report = verify_workspace(workspace)
    assert [(p.kind, p.id) for p in report.problems] == [("run", run_id)]
    assert "changed after it was sealed" in report.problems[0].reason


def test_editing_a_metric_of_a_finished_run_is_a_run_problem(workspace: Workspace) -> None:
    run_id, _ = _finished_run(workspace)
    _edit(workspace, "UPDATE metrics SET value = 0.0001 WHERE run_id = :r AND step = 4", r=run_id)
    assert [(p.kind, p.id) for p in verify_workspace(workspace).problems] == [("run", run_id)]


def test_deleting_or_adding_metric_rows_is_a_run_problem(workspace: Workspace) -> None:
    run_id, _ = _finished_run(workspace)
    _edit(workspace, "DELETE FROM metrics WHERE run_id = :r AND step = 0", r=run_id)
    assert [(p.kind, p.id) for p in verify_workspace(workspace).problems] == [("run", run_id)]


def test_editing_an_artifact_or_status_is_a_run_problem(workspace: Workspace) -> None:
    run_id, _ = _finished_run(workspace)
    _edit(workspace, "UPDATE runs SET status = 'failed' WHERE id = :r", r=run_id)
    assert [(p.kind, p.id) for p in verify_workspace(workspace).problems] == [("run", run_id)]


def test_tags_stay_editable(workspace: Workspace) -> None:
    with start_run("tagged", tags={"team": "assay"}, workspace=workspace) as run:
        pass
    run.set_tag("team", "screening")
    assert verify_workspace(workspace).ok


def test_a_sealed_run_missing_from_the_catalog(workspace: Workspace) -> None:
    run_id, _ = _finished_run(workspace)
    for table in ("params", "metrics", "latest_metrics", "tags", "artifacts"):
        _edit(workspace, f"DELETE FROM {table} WHERE run_id = :r", r=run_id)
    _edit(workspace, "DELETE FROM runs WHERE id = :r", r=run_id)
    problems = verify_workspace(workspace).problems
    assert ("run", run_id) in [(p.kind, p.id) for p in problems]
    assert any("its row is gone" in p.reason for p in problems)


def test_a_broken_chain_is_a_ledger_problem(workspace: Workspace) -> None:
    _finished_run(workspace)
    _edit(workspace, "UPDATE ledger SET actor = 'mallory' WHERE seq = 1")
    problems = verify_workspace(workspace).problems
    assert problems[0].kind == "ledger"
    assert problems[0].reason.startswith("entry #1")


def test_an_edited_metric_is_named_with_its_sealed_and_current_value(workspace: Workspace) -> None:
    run_id, _ = _finished_run(workspace)
    _edit(workspace, "UPDATE metrics SET value = 0.0001 WHERE run_id = :r AND step = 4", r=run_id)
    (problem,) = verify_workspace(workspace).problems
    assert "metric 'loss': sealed 0.2 at step 4, now 0.0001 at step 4" in problem.reason


def test_an_edited_earlier_metric_value_or_a_deleted_row_is_named(workspace: Workspace) -> None:
    run_id, _ = _finished_run(workspace)
    _edit(workspace, "UPDATE metrics SET value = 7.0 WHERE run_id = :r AND step = 1", r=run_id)
    (problem,) = verify_workspace(workspace).problems
    assert "metric 'loss': an earlier value changed" in problem.reason
    _edit(workspace, "DELETE FROM metrics WHERE run_id = :r AND step = 0", r=run_id)
    (problem,) = verify_workspace(workspace).problems
    assert "metric 'loss': 5 values sealed, 4 now" in problem.reason
    _edit(workspace, "DELETE FROM metrics WHERE run_id = :r", r=run_id)
    (problem,) = verify_workspace(workspace).problems
    assert "metric 'loss' was sealed but is gone, last 0.2 at step 4" in problem.reason


def test_an_edited_param_is_named(workspace: Workspace) -> None:
    run_id, _ = _finished_run(workspace)
    _edit(
        workspace,
        "UPDATE params SET value = '0.2', value_num = 0.2 WHERE run_id = :r AND key = 'lr'",
        r=run_id,
    )
    (problem,) = verify_workspace(workspace).problems
    assert problem.reason == (
        "rows of this run changed after it was sealed: param 'lr' changed after the seal, now 0.2"
    )
    assert "restore the catalog from a backup" in problem.hint


def _moved(ws: Workspace) -> tuple[str, str, str]:
    """A finished run with an artifact, and the id of another project."""
    run_id, digest = _finished_run(ws)
    other = ws.project_id("elsewhere")
    with ws.read() as conn:
        artifact_id = conn.execute(
            sa.text("SELECT id FROM artifacts WHERE digest = :d"), {"d": digest}
        ).scalar_one()
    return run_id, artifact_id, other


def test_moving_a_run_or_its_artifact_to_another_project_shows(workspace: Workspace) -> None:
    run_id, artifact_id, other = _moved(workspace)
    _edit(workspace, "UPDATE runs SET project_id = :p WHERE id = :r", p=other, r=run_id)
    found = {(p.kind, p.id) for p in verify_workspace(workspace, blobs=False).problems}
    # The run disagrees with its run.started entry, its artifact with its run.
    assert ("run", run_id) in found and ("artifact", artifact_id) in found


def test_renaming_or_re_parenting_an_artifact_shows(workspace: Workspace) -> None:
    _, artifact_id, _ = _moved(workspace)
    with start_run("other", workspace=workspace) as other:
        other.log_metric("auc", 0.5)
    other_run = other.id
    for statement in (
        "UPDATE artifacts SET name = 'innocent' WHERE id = :a",
        f"UPDATE artifacts SET run_id = '{other_run}' WHERE id = :a",
    ):
        with workspace.read() as conn:
            before = conn.execute(
                sa.text("SELECT name, run_id FROM artifacts WHERE id = :a"), {"a": artifact_id}
            ).one()
        _edit(workspace, statement, a=artifact_id)
        problems = verify_workspace(workspace, blobs=False).problems
        assert ("artifact", artifact_id) in {(p.kind, p.id) for p in problems}, statement
        _edit(
            workspace,
            "UPDATE artifacts SET name = :n, run_id = :r WHERE id = :a",
            n=before.name,
            r=before.run_id,
            a=artifact_id,
        )
    assert verify_workspace(workspace, blobs=False).ok


def test_re_attributing_a_run_or_an_artifact_or_editing_what_its_entry_says_shows(
    workspace: Workspace,
) -> None:
    from labledger.tracking.artifacts import store_artifact

    run_id, artifact_id, _ = _moved(workspace)
    loose = store_artifact(workspace, {"a": 1}, name="loose")  # of no run
    edits = [
        ("run", run_id, "UPDATE runs SET user = 'mallory' WHERE id = :i", "re-attributed"),
        ("run", run_id, "UPDATE runs SET host = 'forged' WHERE id = :i", "its host reads"),
        ("run", run_id, "UPDATE runs SET kind = 'pipeline' WHERE id = :i", "its kind reads"),
        ("run", run_id, "UPDATE runs SET git_commit = 'c0ffee' WHERE id = :i", "its git_commit"),
        ("run", run_id, "UPDATE runs SET git_dirty = CASE WHEN git_dirty THEN 0 ELSE 1 END "
         "WHERE id = :i", "its git_dirty reads"),  # whatever the tests' own tree is
        ("artifact", artifact_id, "UPDATE artifacts SET created_by = 'mallory' WHERE id = :i",
         "its created_by reads"),
        ("artifact", loose.id, "UPDATE artifacts SET size = 1 WHERE id = :i", "its size reads"),
        ("artifact", loose.id, "UPDATE artifacts SET kind = 'file' WHERE id = :i", "its kind"),
        ("artifact", loose.id, "UPDATE artifacts SET format = 'bytes' WHERE id = :i", "format"),
    ]  # fmt: skip
    assert verify_workspace(workspace, blobs=False).ok
    for kind, target, statement, said in edits:
        table = "runs" if kind == "run" else "artifacts"
        with workspace.read() as conn:
            before = dict(
                conn.execute(sa.text(f"SELECT * FROM {table} WHERE id = :i"), {"i": target})
                .mappings()
                .one()
            )
        _edit(workspace, statement, i=target)
        problems = verify_workspace(workspace, blobs=False).problems
        assert any((p.kind, p.id) == (kind, target) and said in p.reason for p in problems), (
            statement,
            problems,
        )
        column = statement.split("SET ")[1].split(" =")[0]
        _edit(
            workspace,
            f"UPDATE {table} SET {column} = :v WHERE id = :i",
            v=before[column],
            i=target,
        )
    assert verify_workspace(workspace, blobs=False).ok


def test_editing_a_runs_error_text_shows(workspace: Workspace) -> None:
    import time

    with pytest.raises(ValueError, match="diverged"):
        with start_run("failing", workspace=workspace) as failed:
            raise ValueError("loss diverged at step 12")
    with start_run("fine", workspace=workspace) as fine:
        fine.log_metric("auc", 0.9)
    crashed = start_run("dead", workspace=workspace)
    workspace.stores.runs.mark_crashed([crashed.id], reason="no heartbeat", at=time.time())
    crashed._buffer.stop()  # as its process died: it never ends
    assert verify_workspace(workspace, blobs=False).ok
    for run_id, text in ((failed.id, "cancelled by the user"), (fine.id, "x"), (crashed.id, None)):
        with workspace.read() as conn:
            before = conn.execute(
                sa.text("SELECT error FROM runs WHERE id = :i"), {"i": run_id}
            ).scalar_one()
        _edit(workspace, "UPDATE runs SET error = :e WHERE id = :i", e=text, i=run_id)
        problems = verify_workspace(workspace, blobs=False).problems
        assert any(p.id == run_id and "its error text reads" in p.reason for p in problems), (
            run_id,
            problems,
        )
        _edit(workspace, "UPDATE runs SET error = :e WHERE id = :i", e=before, i=run_id)
    assert verify_workspace(workspace, blobs=False).ok


def test_roles_and_user_flags_edited_in_the_catalog_show(workspace: Workspace) -> None:
    from labledger.identity import IdentityService, Role, local_user

    service = IdentityService(workspace.stores.identity)
    service.create_user("vera", by="root")
    service.create_user("dora", by="root")
    service.grant("default", "vera", Role.VIEWER, actor=local_user("root"))
    service.disable_user("dora", by="root")
    assert verify_workspace(workspace, blobs=False).ok
    _edit(workspace, "UPDATE project_members SET role = 'admin'")
    _edit(workspace, "UPDATE users SET disabled = 0 WHERE name = 'dora'")
    _edit(workspace, "UPDATE users SET is_admin = 1 WHERE name = 'vera'")
    found = {(p.kind, p.id) for p in verify_workspace(workspace, blobs=False).problems}
    assert ("user", "dora") in found and ("user", "vera") in found
    assert any(kind == "role" and ident.startswith("vera@") for kind, ident in found)


def test_who_granted_a_role_edited_in_the_catalog_shows(workspace: Workspace) -> None:
    from labledger.identity import IdentityService, Role, local_user

    service = IdentityService(workspace.stores.identity)
    service.create_user("vera", by="root")
    service.create_user("ada", by="root", is_admin=True)
    service.grant("default", "vera", Role.VIEWER, actor=local_user("root"))
    service.grant("default", "vera", Role.EDITOR, actor=local_user("ada"))
    (member,) = [
        m for m in service.members("default", actor=local_user("root")) if m.user == "vera"
    ]
    assert member.granted_by == "ada"
    assert verify_workspace(workspace, blobs=False).ok
    _edit(workspace, "UPDATE project_members SET granted_by = 'root'")
    problems = verify_workspace(workspace, blobs=False).problems
    assert [(p.kind, p.reason) for p in problems if p.id.startswith("vera@")] == [
        ("role", "vera's role in project "
         f"{workspace.project_id('default')} reads as granted by 'root', but the role.changed "
         "entry names 'ada'")
    ]  # fmt: skip
    _edit(workspace, "UPDATE project_members SET granted_by = 'ada'")
    assert verify_workspace(workspace, blobs=False).ok


def test_tokens_projects_and_keys_edited_in_the_catalog_show(workspace: Workspace) -> None:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    from labledger.identity import IdentityService, local_user
    from labledger.workspace.signing import Signer

    service = IdentityService(workspace.stores.identity)
    service.create_user("ada", by="root", is_admin=True)
    service.create_user("ed", by="root")
    eds = service.issue_token("ed", "laptop", by="root")
    gone = service.issue_token("ed", "old", by="root")
    service.revoke_token(gone.token.id, actor=local_user("root"))
    root = local_user("root")
    service.create_project("assay", actor=root)
    service.create_project("screen", actor=root)
    key = Signer("ed", Ed25519PrivateKey.generate()).public_key_hex
    service.add_key("ed", key, name="laptop", by="ed")
    assert verify_workspace(workspace, blobs=False).ok
    ada = "(SELECT id FROM users WHERE name = 'ada')"
    _edit(workspace, f"UPDATE api_tokens SET user_id = {ada} WHERE id = :t", t=eds.token.id)
    _edit(workspace, "UPDATE api_tokens SET revoked_at = NULL WHERE id = :t", t=gone.token.id)
    _edit(workspace, "UPDATE projects SET name = 'renamed' WHERE name = 'assay'")
    _edit(workspace, f"UPDATE user_keys SET user_id = {ada}")
    found = {(p.kind, p.id) for p in verify_workspace(workspace, blobs=False).problems}
    assert {("token", eds.token.id), ("token", gone.token.id)} <= found
    assert any(kind == "project" for kind, _ in found)
    assert ("key", f"{key[:16]}...") in found


def test_a_token_hash_replaced_in_the_catalog_shows(workspace: Workspace) -> None:
    from labledger.identity import IdentityService
    from labledger.identity.hashing import new_token_secret, token_hash

    service = IdentityService(workspace.stores.identity)
    service.create_user("ed", by="root")
    issued = service.issue_token("ed", "laptop", by="root")
    assert verify_workspace(workspace, blobs=False).ok
    # Someone who can write the catalog swaps in the hash of a secret of their own: the token
    # id, its owner and its expiry are all still the ones the ledger vouches for.
    mine = new_token_secret()
    _edit(
        workspace,
        "UPDATE api_tokens SET secret_hash = :h WHERE id = :t",
        h=token_hash(mine),
        t=issued.token.id,
    )
    assert service.authenticate_token(mine).name == "ed"  # the swap works...
    problems = verify_workspace(workspace, blobs=False).problems
    assert [(p.kind, p.id) for p in problems] == [("token", issued.token.id)]  # ...and shows
    assert "its stored hash is not the one it was made with" in problems[0].reason
    _edit(
        workspace,
        "UPDATE api_tokens SET secret_hash = :h WHERE id = :t",
        h=token_hash(issued.secret),
        t=issued.token.id,
    )
    assert verify_workspace(workspace, blobs=False).ok


def test_a_token_row_deleted_from_the_catalog_shows(workspace: Workspace) -> None:
    from labledger.identity import IdentityService

    service = IdentityService(workspace.stores.identity)
    service.create_user("ed", by="root")
    issued = service.issue_token("ed", "laptop", by="root")
    assert verify_workspace(workspace, blobs=False).ok
    _edit(workspace, "DELETE FROM api_tokens WHERE id = :t", t=issued.token.id)
    problems = verify_workspace(workspace, blobs=False).problems
    assert [(p.kind, p.id, p.reason) for p in problems] == [
        ("token", issued.token.id, "the ledger records this token, but its row is gone")
    ]


def test_a_token_cut_loose_from_the_token_it_was_made_with_shows(workspace: Workspace) -> None:
    from labledger.identity import IdentityService, local_user

    service = IdentityService(workspace.stores.identity)
    service.create_user("ed", by="root")
    parent = service.issue_token("ed", "laptop", by="root")
    child = service.issue_token("ed", "ci", by="ed", made_with=parent.token.id)
    alone = service.issue_token("ed", "desk", by="root")
    assert verify_workspace(workspace, blobs=False).ok
    # Cut loose, the child outlives its parent's revocation; tied to one, a token made alone
    # would die with a token it was never made with.
    _edit(workspace, "UPDATE api_tokens SET parent_id = NULL WHERE id = :t", t=child.token.id)
    _edit(workspace, "UPDATE api_tokens SET parent_id = :p WHERE id = :t", p=parent.token.id,
          t=alone.token.id)  # fmt: skip
    service.revoke_token(parent.token.id, actor=local_user("root"))
    assert service.authenticate_token(child.secret).name == "ed"  # the cut works...
    problems = verify_workspace(workspace, blobs=False).problems
    assert sorted((p.kind, p.id) for p in problems) == sorted(
        [("token", child.token.id), ("token", alone.token.id)]
    )  # ...and shows
    assert all("revoking the token it was made with" in p.reason for p in problems)


def test_a_token_entry_made_before_fingerprints_is_not_held_to_one(workspace: Workspace) -> None:
    from labledger.identity import IdentityService

    service = IdentityService(workspace.stores.identity)
    service.create_user("ed", by="root")
    issued = service.issue_token("ed", "laptop", by="root")
    _edit(
        workspace,
        "UPDATE api_tokens SET secret_hash = 'x' WHERE id = :t",
        t=issued.token.id,
    )
    replay = IdentityReplay()
    with workspace.read() as conn:
        for entry in iter_entries(conn, kinds=["user.created", "token.created"]):
            payload = {k: v for k, v in entry.payload.items() if k != "hash_fingerprint"}
            replay.visit(dataclasses.replace(entry, payload=payload))
        assert replay.problems(conn) == []


def test_a_display_name_changed_in_the_catalog_shows(workspace: Workspace) -> None:
    from labledger.identity import IdentityService

    service = IdentityService(workspace.stores.identity)
    service.create_user("ed", by="root", display_name="Ed Reyes")
    service.create_user("kim", by="root")
    assert verify_workspace(workspace, blobs=False).ok
    # What a team sees beside each write: someone else's name passed off as Ed's.
    _edit(workspace, "UPDATE users SET display_name = 'Dr. K. Lee' WHERE name = 'ed'")
    problems = verify_workspace(workspace, blobs=False).problems
    assert [(p.kind, p.id) for p in problems] == [("user", "ed")]
    assert "display_name reads 'Dr. K. Lee'" in problems[0].reason
    # An entry made before it held display names vouches for none.
    replay = IdentityReplay()
    with workspace.read() as conn:
        for entry in iter_entries(conn, kinds=["user.created"]):
            payload = {k: v for k, v in entry.payload.items() if k != "display_name"}
            replay.visit(dataclasses.replace(entry, payload=payload))
        assert replay.problems(conn) == []


def _password_hash(ws: Workspace, name: str) -> str | None:
    with ws.read() as conn:
        found = conn.execute(
            sa.text("SELECT password_hash FROM users WHERE name = :n"), {"n": name}
        ).scalar_one()
    return None if found is None else str(found)


def _set_password_hash(ws: Workspace, name: str, password_hash: str | None) -> None:
    _edit(ws, "UPDATE users SET password_hash = :h WHERE name = :n", h=password_hash, n=name)


def test_a_password_hash_replaced_in_the_catalog_shows(workspace: Workspace) -> None:
    pytest.importorskip("argon2")
    from labledger.identity import IdentityService
    from labledger.identity.hashing import hash_password

    service = IdentityService(workspace.stores.identity)
    service.create_user("ed", by="root", password="ed's own password")
    made = _password_hash(workspace, "ed")
    assert verify_workspace(workspace, blobs=False).ok
    # Someone who can write the catalog swaps in the hash of a password they know: the user's
    # name and flags are all still the ones the ledger vouches for.
    _set_password_hash(workspace, "ed", hash_password("a password I know"))
    assert service.authenticate_password("ed", "a password I know").name == "ed"  # it works...
    problems = verify_workspace(workspace, blobs=False).problems
    assert [(p.kind, p.id) for p in problems] == [("user", "ed")]  # ...and shows
    assert "its stored password hash is not the one the ledger last set" in problems[0].reason
    _set_password_hash(workspace, "ed", made)
    assert verify_workspace(workspace, blobs=False).ok
    # A password set with labledger is the one held from then on, not the one it was made with.
    service.set_password("ed", "a new password of ed's", by="root")
    assert verify_workspace(workspace, blobs=False).ok
    _set_password_hash(workspace, "ed", made)
    assert [(p.kind, p.id) for p in verify_workspace(workspace, blobs=False).problems] == [
        ("user", "ed")
    ]


def test_a_password_set_or_removed_outside_labledger_shows(workspace: Workspace) -> None:
    pytest.importorskip("argon2")
    from labledger.identity import IdentityService
    from labledger.identity.hashing import hash_password

    service = IdentityService(workspace.stores.identity)
    service.create_user("tok", by="root")  # tokens only
    service.create_user("pw", by="root", password="pw's own password")
    service.create_user("gone", by="root", password="a password to remove")
    service.set_password("gone", None, by="root")  # removed with labledger: no problem
    assert verify_workspace(workspace, blobs=False).ok
    _set_password_hash(workspace, "tok", hash_password("a password I know"))
    _set_password_hash(workspace, "pw", None)
    reasons = {p.id: p.reason for p in verify_workspace(workspace, blobs=False).problems}
    assert set(reasons) == {"tok", "pw"}
    assert "the ledger leaves it no password" in reasons["tok"]
    assert "its password hash is gone, but the ledger leaves it one" in reasons["pw"]
    # A value of another type written straight into the database is a finding, not a crash.
    _edit(workspace, "UPDATE users SET password_hash = x'00ff' WHERE name = 'gone'")
    found = {p.id for p in verify_workspace(workspace, blobs=False).problems}
    assert found == {"tok", "pw", "gone"}


def test_password_entries_made_before_fingerprints_are_not_held_to_one(
    workspace: Workspace,
) -> None:
    pytest.importorskip("argon2")
    from labledger.identity import IdentityService

    service = IdentityService(workspace.stores.identity)
    service.create_user("old", by="root", password="a password of old")
    service.create_user("reset", by="root", password="a password of reset")
    service.set_password("reset", "reset's newer password", by="root")
    service.create_user("tok", by="root")
    for name in ("old", "reset"):
        _set_password_hash(workspace, name, "x")
    _set_password_hash(workspace, "tok", None)

    def replayed(strip: set[tuple[str, str]]) -> list[tuple[str, str, str]]:
        """The replay's problems, with ``hash_fingerprint`` taken out of the entries of
        ``(kind, user name)`` in ``strip``, as entries written before it was added lack it."""
        replay = IdentityReplay()
        names: dict[str, str] = {}
        with workspace.read() as conn:
            for entry in iter_entries(conn, kinds=["user.created", "user.password_set"]):
                names.setdefault(entry.subject, str(entry.payload.get("name")))
                payload = entry.payload
                if (entry.kind, names[entry.subject]) in strip:
                    payload = {k: v for k, v in payload.items() if k != "hash_fingerprint"}
                replay.visit(dataclasses.replace(entry, payload=payload))
            return replay.problems(conn)

    every = {
        ("user.created", "old"),
        ("user.created", "reset"),
        ("user.password_set", "reset"),
        ("user.created", "tok"),
    }
    assert replayed(every) == []
    # An older entry setting the password after a newer one made the user: the hash it left is
    # vouched for by nothing.
    assert replayed({("user.created", "old"), ("user.password_set", "reset")}) == []
    # A newer entry setting the password after an older one made the user holds the hash.
    held = replayed({("user.created", "reset")})
    assert {(kind, name) for kind, name, _ in held} == {("user", "old"), ("user", "reset")}


@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE metrics SET value = 'abc' WHERE run_id = :i",
        "UPDATE metrics SET step = 'x' WHERE run_id = :i",
        "UPDATE metrics SET value = x'00ff' WHERE run_id = :i",
        "UPDATE metrics SET key = x'00ff' WHERE run_id = :i",
    ],
)
def test_a_metric_row_of_the_wrong_type_is_a_finding_not_a_crash(
    workspace: Workspace, statement: str
) -> None:
    with start_run("typed", workspace=workspace) as run:
        run.log_metric("auc", 0.5)
    with start_run("other", workspace=workspace) as other:
        other.log_metric("auc", 0.7)
    _edit(workspace, statement, i=run.id)
    _edit(workspace, "UPDATE runs SET host = 'forged' WHERE id = :i", i=other.id)
    problems = verify_workspace(workspace, blobs=False).problems
    found = {(p.kind, p.id) for p in problems}
    assert ("run", run.id) in found, problems
    assert ("run", other.id) in found  # the check went on past the bad row
