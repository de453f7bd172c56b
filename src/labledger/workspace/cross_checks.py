"""Cross-checks between catalog rows and the ledger entries that speak of them, both ways.

- Every run has its ``run.started`` entry; every run that ended has its seal (``run.finished`` or
  ``run.crashed``), and a run marked sealed in the catalog has one.
- Every artifact has an ``artifact.produced`` entry naming the same blob digest. Runs sealed before
  artifacts were all recorded (their ``run.finished`` payload lacks ``artifacts_recorded``) keep
  their artifacts covered by the sealed record alone.
- An artifact's name, run and (for one of no run) project are those its entry gives, and its
  creation time, stats and schema those its entry holds since they were added
  (``artifact_facts``); a run's project, kind, host, git commit and dirty flag those its
  ``run.started`` gives (entries from before they were recorded aside), a run's error text the
  one its seal gives, and a run's artifact is in the run's project: moving either to another
  project shows.
- Users' administrator flags, whether they are disabled and their stored password hashes, every
  role in every project, API tokens' owners, expiries, revocations and stored hashes, projects'
  names and users' signing keys are what the ``user.*``, ``role.changed``, ``token.*``,
  ``project.created`` and ``user.key_*`` entries leave (``identity_replay``).
- Reverse: an entry about a run or an artifact whose row is gone is reported.
- Metadata values are those the ``metadata.set`` / ``metadata.removed`` entries leave, collection
  members those the ``collection.*`` entries leave, and each reproduction check row (table
  ``verifications``) says what its ``run.reproduced`` entry says.

The entries are gathered while ``walk_chain`` walks the whole ledger, never through an index.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from sqlalchemy import select

from labledger.workspace import schema
from labledger.workspace.artifact_facts import fact_problems, listed_facts, said_facts
from labledger.workspace.identity_replay import IdentityReplay
from labledger.workspace.row_replays import replayed_problems

if TYPE_CHECKING:
    from sqlalchemy import Connection

    from labledger.workspace.ledger import LedgerEntry

__all__ = ["EntryIndex", "cross_check"]

_SEALS = ("run.finished", "run.crashed")
# What a run's row must agree on with its run.started entry (where the entry says).
_ORIGIN_COLUMNS = ("kind", "host", "git_commit", "git_dirty")
# What an artifact's row must agree on with the entry that produced it (where the entry says).
_PRODUCED_COLUMNS = ("name", "run_id", "project_id", "created_by", "kind", "size", "format")


@dataclass(slots=True)
class EntryIndex:
    """The entries ``cross_check`` needs, collected from one walk of the ledger."""

    started: dict[str, str] = field(default_factory=dict)  # run id -> who started it
    # run id -> its project, as run.started says (entries from before it was recorded: none)
    run_projects: dict[str, str] = field(default_factory=dict)
    # run id -> its kind, host, git commit and dirty flag, as run.started says (older entries
    # say fewer of them, or none)
    run_origins: dict[str, dict[str, Any]] = field(default_factory=dict)
    # run id -> (kind, payload) of its seal: the first one; a run is sealed once
    seals: dict[str, tuple[str, dict[str, Any]]] = field(default_factory=dict)
    problems: list[tuple[str, str, str]] = field(default_factory=list)
    produced: dict[str, str] = field(default_factory=dict)  # artifact id -> digest
    # artifact id -> what its entry says of it besides the digest: name, run, project
    produced_as: dict[str, dict[str, Any]] = field(default_factory=dict)
    identity: IdentityReplay = field(default_factory=IdentityReplay)
    # (target kind, target id) -> field name -> value, as the metadata entries leave them
    metadata: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)
    members: dict[str, set[tuple[str, str]]] = field(default_factory=dict)  # collection -> members
    # (artifact id, re-run id) -> whether the re-run matched it
    reproduced: dict[tuple[str, str], bool] = field(default_factory=dict)
    fields: dict[str, dict[str, Any]] = field(default_factory=dict)  # field id -> definition
    collection_rows: dict[str, dict[str, Any]] = field(default_factory=dict)  # id -> name, owner
    signers: dict[str, int] = field(default_factory=dict)  # actor -> entries signed in their name

    def visit(self, entry: LedgerEntry) -> None:
        """Note ``entry`` if it is about something rows must agree with."""
        kind, payload = entry.kind, entry.payload
        if entry.signature:
            self.signers[entry.actor] = self.signers.get(entry.actor, 0) + 1
        if kind.startswith(("metadata.", "collection.", "run.reproduced")):
            self._replay(kind, payload)
        elif kind == "run.started":
            run_id = str(payload.get("run_id"))
            self.started.setdefault(run_id, _author(entry))
            if isinstance(payload.get("project_id"), str):
                self.run_projects.setdefault(run_id, payload["project_id"])
            origin: dict[str, Any] = {k: payload[k] for k in _ORIGIN_COLUMNS if k in payload}
            if origin:
                self.run_origins.setdefault(run_id, origin)
        elif kind in _SEALS:
            self._seal(entry)
        elif kind == "artifact.produced":
            said = {
                "name": payload.get("name"),
                "run_id": payload.get("run_id"),
                "created_by": _author(entry),
            }
            # Named by the entries of newer writers only.
            said.update(
                {k: payload[k] for k in ("project_id", "kind", "size", "format") if k in payload}
            )
            said.update(said_facts(payload))
            self._produced(entry, str(payload.get("artifact_id")), str(payload.get("digest")), said)
        elif kind == "artifacts.produced":
            for position, item in enumerate(payload.get("artifacts") or ()):
                if isinstance(item, list) and len(item) == 3:
                    # No author: the seal's writer (the run's user, or whoever found it
                    # dead) need not be who recorded each artifact of the run.
                    said = {"name": item[1], "run_id": payload.get("run_id")}
                    said.update(listed_facts(payload, position))
                    self._produced(entry, str(item[0]), str(item[2]), said)
        elif kind.startswith(("user.", "role.", "token.", "project.")):
            self.identity.visit(entry)

    def _produced(
        self, entry: LedgerEntry, artifact_id: str, digest: str, said: dict[str, Any]
    ) -> None:
        if artifact_id in self.produced:
            self.problems.append(
                (
                    "artifact",
                    artifact_id,
                    f"entry #{entry.seq} by {entry.actor} records it as produced again: an "
                    "artifact is produced once, so the first entry stands and this one is "
                    "an attempt to re-point it",
                )
            )
        else:
            self.produced[artifact_id] = digest
            self.produced_as[artifact_id] = said

    def _seal(self, entry: LedgerEntry) -> None:
        run_id = str(entry.payload.get("run_id"))
        if run_id in self.seals:
            self.problems.append(
                (
                    "run",
                    run_id,
                    f"entry #{entry.seq} by {entry.actor} seals it again: a run is sealed once, "
                    "so its first seal stands and this one is an attempt to re-seal it",
                )
            )
            return
        started_by = self.started.get(run_id)
        if entry.kind == "run.finished" and started_by is not None and _author(entry) != started_by:
            # A crashed run is sealed by whoever finds it dead; a finished one by its own writer.
            self.problems.append(
                (
                    "run",
                    run_id,
                    f"it was started by {started_by} but sealed by {_author(entry)} "
                    f"(entry #{entry.seq}): only the run's own writer finishes it",
                )
            )
        self.seals[run_id] = (entry.kind, entry.payload)

    def _replay(self, kind: str, payload: dict[str, Any]) -> None:
        if kind == "metadata.set":
            target = (str(payload.get("target_kind")), str(payload.get("target_id")))
            self.metadata.setdefault(target, {}).update(payload.get("values") or {})
        elif kind == "metadata.removed":
            target = (str(payload.get("target_kind")), str(payload.get("target_id")))
            self.metadata.get(target, {}).pop(str(payload.get("field")), None)
        elif kind in ("metadata.field_defined", "metadata.field_updated"):
            self.fields[str(payload.get("field_id"))] = {
                k: v for k, v in payload.items() if k != "field_id"
            }
        elif kind == "collection.created":
            self.members[str(payload.get("collection_id"))] = set()
            self.collection_rows[str(payload.get("collection_id"))] = {
                "name": payload.get("name"),
                "owner": payload.get("owner"),
                # Entries from before collections had projects name none: those went to default.
                "project_id": payload.get("project_id"),
            }
        elif kind in ("collection.members_added", "collection.members_removed"):
            members = {(str(m[0]), str(m[1])) for m in payload.get("members") or ()}
            current = self.members.setdefault(str(payload.get("collection_id")), set())
            if kind.endswith("added"):
                current |= members
            else:
                current -= members
        elif kind == "collection.deleted":
            self.members.pop(str(payload.get("collection_id")), None)
            self.collection_rows.pop(str(payload.get("collection_id")), None)
        elif kind == "run.reproduced":
            rerun = str(payload.get("rerun_id"))
            for matched, key in ((True, "matched"), (False, "mismatched")):
                for artifact_id in payload.get(key) or ():
                    self.reproduced[(str(artifact_id), rerun)] = matched


def _run_problems(conn: Connection, index: EntryIndex) -> list[tuple[str, str, str]]:
    r = schema.runs
    problems: list[tuple[str, str, str]] = []
    seen: set[str] = set()
    for run_id, status, record_digest, project_id, user, error, *origin_values in conn.execute(
        select(
            r.c.id,
            r.c.status,
            r.c.record_digest,
            r.c.project_id,
            r.c.user,
            r.c.error,
            *(r.c[column] for column in _ORIGIN_COLUMNS),
        )
    ):
        seen.add(run_id)
        started_by = index.started.get(run_id)
        if started_by is None:
            problems.append(("run", run_id, "its run.started entry is missing from the ledger"))
        elif started_by != user:
            problems.append(
                (
                    "run",
                    run_id,
                    f"its user reads {user!r}, but its run.started entry was written by "
                    f"{started_by!r}: re-attributed",
                )
            )
        origin = index.run_origins.get(run_id, {})
        problems += [
            (
                "run",
                run_id,
                f"its {column} reads {value!r}, but its run.started entry says {origin[column]!r}",
            )
            for column, value in zip(_ORIGIN_COLUMNS, origin_values, strict=True)
            if column in origin and _differs(origin[column], value)
        ]

        started_in = index.run_projects.get(run_id)
        if started_in is not None and started_in != project_id:
            problems.append(
                (
                    "run",
                    run_id,
                    f"it is in project {project_id}, but its run.started entry puts it in "
                    f"{started_in}: moved to another project",
                )
            )
        seal = index.seals.get(run_id)
        if seal is not None and record_digest != seal[1].get("record_digest"):
            problems.append(
                (
                    "run",
                    run_id,
                    f"its record digest reads {record_digest}, but its seal says "
                    f"{seal[1].get('record_digest')}",
                )
            )
        if seal is not None and "error" in seal[1] and seal[1]["error"] != error:
            # Seals from before the error text was recorded do not name it.
            problems.append(
                (
                    "run",
                    run_id,
                    f"its error text reads {_excerpt(error)}, but its seal ({seal[0]}) says "
                    f"{_excerpt(seal[1]['error'])}",
                )
            )
        if status != "running" and run_id not in index.seals:
            what = "is marked sealed" if record_digest is not None else f"ended ({status})"
            problems.append(
                ("run", run_id, f"it {what}, but the ledger holds no seal for it (run.finished)")
            )
    for run_id in sorted((set(index.started) | set(index.seals)) - seen):
        problems.append(("run", run_id, "the ledger records it, but its row is gone"))
    return problems


def _artifact_problems(conn: Connection, index: EntryIndex) -> list[tuple[str, str, str]]:
    a, r = schema.artifacts, schema.runs
    # Runs whose artifacts may still lack an entry: running now (named when sealed), or sealed
    # before every artifact was named in the ledger.
    running = set(conn.execute(select(r.c.id).where(r.c.status == "running")).scalars())
    legacy = {
        run_id
        for run_id, (_, payload) in index.seals.items()
        if not payload.get("artifacts_recorded")
    }
    problems: list[tuple[str, str, str]] = []
    seen: set[str] = set()
    run_projects = {
        run_id: project for run_id, project in conn.execute(select(r.c.id, r.c.project_id))
    }
    for row in conn.execute(
        select(
            a.c.id,
            a.c.name,
            a.c.digest,
            a.c.run_id,
            a.c.project_id,
            a.c.created_by,
            a.c.kind,
            a.c.size,
            a.c.format,
            a.c.created_at,
            a.c.schema_json,
            a.c.stats_json,
        )
    ).mappings():
        artifact_id, name, digest, run_id = row["id"], row["name"], row["digest"], row["run_id"]
        seen.add(artifact_id)
        problems += _artifact_row_problems(
            artifact_id,
            dict(row),
            index.produced_as.get(artifact_id),
            run_projects.get(run_id) if run_id is not None else None,
        )
        produced = index.produced.get(artifact_id)
        if produced is None:
            if run_id is None or (run_id not in running and run_id not in legacy):
                problems.append(
                    (
                        "artifact",
                        artifact_id,
                        f"artifact {name!r} has no artifact.produced entry in the ledger: "
                        "nothing vouches for it",
                    )
                )
        elif produced != digest:
            problems.append(
                (
                    "artifact",
                    artifact_id,
                    f"artifact {name!r} points at blob {digest}, but its artifact.produced "
                    f"entry says {produced}",
                )
            )
    for artifact_id in sorted(set(index.produced) - seen):
        problems.append(
            ("artifact", artifact_id, "the ledger records it as produced, but its row is gone")
        )
    return problems


def _artifact_row_problems(
    artifact_id: str, row: dict[str, Any], said: dict[str, Any] | None, run_project: str | None
) -> list[tuple[str, str, str]]:
    """What of an artifact's row disagrees with its entry (name, run, project, creation time,
    stats, schema), or with its run (a run's artifact is in the run's project)."""
    problems = [
        (
            "artifact",
            artifact_id,
            f"its {column} reads {row[column]!r}, but the entry that produced it says "
            f"{said[column]!r}",
        )
        for column in _PRODUCED_COLUMNS
        if said is not None and column in said and said[column] != row[column]
    ]
    if said is not None:
        problems += [
            ("artifact", artifact_id, reason) for reason in fact_problems(row["name"], row, said)
        ]
    if row["run_id"] is not None and run_project is not None and run_project != row["project_id"]:
        problems.append(
            (
                "artifact",
                artifact_id,
                f"it is in project {row['project_id']}, but its run {row['run_id']} is in "
                f"{run_project}: a run's artifact is in the run's project",
            )
        )
    return problems


def cross_check(conn: Connection, index: EntryIndex) -> list[tuple[str, str, str]]:
    """``(kind, id, reason)`` for each disagreement between rows and entries."""
    return (
        list(index.problems)
        + _run_problems(conn, index)
        + _artifact_problems(conn, index)
        + replayed_problems(conn, index)
        + index.identity.problems(conn)
    )


def _author(entry: LedgerEntry) -> str:
    """Who an entry is for: the user a server wrote it for (``by``, when the server signed it
    itself), else its actor (a user who signed their own entry is its actor)."""
    by = entry.payload.get("by")
    return by if isinstance(by, str) and by else entry.actor


def _excerpt(text: Any) -> str:
    """``text`` quoted, cut to a length a report line can hold."""
    shown = repr(text)
    return shown if len(shown) <= 120 else f"{shown[:117]}..."


def _differs(said: Any, stored: Any) -> bool:
    """Whether an entry's value and a row's differ (a flag SQLite stores as 0 or 1 is the entry's
    false or true)."""
    if isinstance(said, bool) or isinstance(stored, bool):
        return said is None or stored is None or bool(said) != bool(stored)
    return bool(said != stored)
