"""Collections of runs, artifacts, pipelines and models."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from labledger._foundation.errors import NotFoundError, ValidationError
from labledger.metadata import (
    Collection,
    CollectionMember,
    add_to_collection,
    create_collection,
    delete_collection,
    get_collection,
    list_collections,
    remove_from_collection,
)

if TYPE_CHECKING:
    from collections.abc import Callable

    from labledger.tracking import ActiveRun, Artifact
    from labledger.workspace.ledger import LedgerEntry
    from labledger.workspace.workspace import Workspace


def _members(collection: Collection) -> set[tuple[str, str, str | None]]:
    return {(m.kind, m.id, m.name) for m in collection.members}


def test_round_trip(workspace: Workspace, run: ActiveRun, artifact: Artifact) -> None:
    created = create_collection(
        "hit-validation", "Runs behind the March hits", owner="grace", workspace=workspace
    )
    assert created.members == []
    assert (created.name, created.description, created.owner) == (
        "hit-validation",
        "Runs behind the March hits",
        "grace",
    )
    added = add_to_collection(
        "hit-validation",
        run.id,
        ("artifact", artifact.id),
        ("pipeline", "screen.py:main"),
        ("model", "classifier"),
        workspace=workspace,
    )
    expected = {
        ("run", run.id, "dose response"),
        ("artifact", artifact.id, "plate-map"),
        ("pipeline", "screen.py:main", None),
        ("model", "classifier", None),
    }
    assert _members(added) == expected
    fetched = get_collection("hit-validation", workspace=workspace)
    assert fetched == added
    assert fetched.id == created.id
    assert all(isinstance(m, CollectionMember) and m.added_at > 0 for m in fetched.members)

    removed = remove_from_collection(
        "hit-validation", artifact.id, ("model", "classifier"), workspace=workspace
    )
    assert _members(removed) == {
        ("run", run.id, "dose response"),
        ("pipeline", "screen.py:main", None),
    }
    delete_collection("hit-validation", workspace=workspace)
    assert list_collections(workspace=workspace) == []
    with pytest.raises(NotFoundError, match="no collection named 'hit-validation'"):
        get_collection("hit-validation", workspace=workspace)


def test_owner_defaults_to_the_actor(workspace: Workspace) -> None:
    assert create_collection("mine", workspace=workspace).owner == workspace.actor


def test_duplicates_are_ignored(
    workspace: Workspace, run: ActiveRun, ledger: Callable[[str], list[LedgerEntry]]
) -> None:
    create_collection("c", workspace=workspace)
    add_to_collection("c", run.id, run.id, ("run", run.id), workspace=workspace)
    again = add_to_collection("c", run.id, workspace=workspace)
    assert [(m.kind, m.id) for m in again.members] == [("run", run.id)]
    assert len(ledger("collection.members_added")) == 1


def test_unknown_members_are_refused_and_nothing_is_added(
    workspace: Workspace, run: ActiveRun
) -> None:
    create_collection("c", workspace=workspace)
    with pytest.raises(NotFoundError, match="no run or artifact with id 'missing'"):
        add_to_collection("c", run.id, "missing", workspace=workspace)
    with pytest.raises(NotFoundError, match=f"no artifact with id '{run.id}'"):
        add_to_collection("c", ("artifact", run.id), workspace=workspace)
    with pytest.raises(ValidationError, match="is not a \\(kind, id\\) pair"):
        add_to_collection("c", ("dataset", "x"), workspace=workspace)  # type: ignore[arg-type]
    with pytest.raises(ValidationError, match="is not a run or artifact id"):
        add_to_collection("c", ("model", ""), workspace=workspace)
    assert get_collection("c", workspace=workspace).members == []
    with pytest.raises(NotFoundError, match="no collection named 'other'"):
        add_to_collection("other", run.id, workspace=workspace)


def test_removing_a_non_member_changes_nothing(
    workspace: Workspace, run: ActiveRun, ledger: Callable[[str], list[LedgerEntry]]
) -> None:
    create_collection("c", workspace=workspace)
    assert remove_from_collection("c", run.id, workspace=workspace).members == []
    assert ledger("collection.members_removed") == []


@pytest.mark.parametrize("name", ["", " padded", "tab\there", "x" * 201])
def test_invalid_names(workspace: Workspace, name: str) -> None:
    with pytest.raises(ValidationError, match="collection name"):
        create_collection(name, workspace=workspace)


def test_names_are_unique(workspace: Workspace) -> None:
    create_collection("c", workspace=workspace)
    with pytest.raises(ValidationError, match="a collection named 'c' exists already"):
        create_collection("c", workspace=workspace)


def test_list_collections_by_name_with_members(workspace: Workspace, run: ActiveRun) -> None:
    create_collection("b", workspace=workspace)
    create_collection("a", "first", workspace=workspace)
    add_to_collection("b", run.id, workspace=workspace)
    listed = list_collections(workspace=workspace)
    assert [c.name for c in listed] == ["a", "b"]
    assert [len(c.members) for c in listed] == [0, 1]


def test_ledger_entries(
    workspace: Workspace, run: ActiveRun, ledger: Callable[[str], list[LedgerEntry]]
) -> None:
    collection = create_collection("c", workspace=workspace)
    add_to_collection("c", run.id, ("model", "m"), workspace=workspace)
    remove_from_collection("c", ("model", "m"), workspace=workspace)
    delete_collection("c", workspace=workspace)
    subject = f"collection:{collection.id}"
    (created,) = ledger("collection.created")
    (added,) = ledger("collection.members_added")
    (removed,) = ledger("collection.members_removed")
    (deleted,) = ledger("collection.deleted")
    assert {e.subject for e in (created, added, removed, deleted)} == {subject}
    assert added.payload["members"] == [["run", run.id], ["model", "m"]]
    assert removed.payload["members"] == [["model", "m"]]
    assert deleted.payload == {"collection_id": collection.id, "name": "c", "members": 1}


def test_collections_are_listed_a_page_at_a_time(workspace: Workspace) -> None:
    for name in ["b", "a", "d", "c", "e"]:
        create_collection(name, workspace=workspace)
    store = workspace.stores.collections
    seen: list[str] = []
    token: str | None = None
    pages = 0
    while True:
        page = store.list_page(page_token=token, max_results=2)
        seen += [collection.name for collection in page.items]
        pages += 1
        if page.next_token is None:
            break
        token = page.next_token
    assert seen == ["a", "b", "c", "d", "e"] and pages == 3
    # A collection created behind the cursor does not shift the pages still to come.
    first = store.list_page(max_results=2)
    create_collection("0", workspace=workspace)
    assert first.next_token is not None
    rest = store.list_page(page_token=first.next_token, max_results=10)
    assert [c.name for c in rest.items] == ["c", "d", "e"]


def test_the_store_names_the_collections_holding_a_member(
    workspace: Workspace, run: ActiveRun, artifact: Artifact
) -> None:
    for name in ("pilot", "archive", "other"):
        create_collection(name, workspace=workspace)
    add_to_collection("pilot", run.id, artifact.id, workspace=workspace)
    add_to_collection("archive", run.id, workspace=workspace)
    store = workspace.stores.collections
    assert store.containing("run", run.id) == ["archive", "pilot"]
    assert store.containing("artifact", artifact.id) == ["pilot"]
    assert store.containing("run", "no-such-run") == []
