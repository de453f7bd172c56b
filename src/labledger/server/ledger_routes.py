"""``/api/v1`` routes for the ledger: what a client needs to check it without trusting the server.

- Any signed-in user may ask for a new signed checkpoint and for consistency proofs between two
  sizes: enough to prove the server did not cut, rewrite or fork history since the checkpoint the
  user saw last (``labledger verify`` against a server does this every time). They reveal sizes and
  hashes only.
- Administrators may read the entries themselves, get inclusion proofs, and have the server
  re-check its own chain, rows and blobs. The ledger is one chain for every project, and its
  entries name runs, artifacts, params and collections of all of them, so members of a project
  do not read them; nor are entries handed out with other projects' payloads blanked, since a
  client could then check neither their hashes nor their signatures.
- Editors (of any project) may append an entry they signed themselves (``POST /entries``): in their own name, with
  one of their registered keys (``/api/v1/me/keys``); the ledger checks the signature, the time
  and that the entry is new before it chains it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any

from fastapi import APIRouter, Query, Request
from pydantic import BaseModel

from labledger._foundation.errors import PermissionDeniedError
from labledger.server.permissions import ProjectScope, admin_only, in_projects, signed_in
from labledger.server.routes.project_reads import require_some_project
from labledger.stores.identity import Role, User
from labledger.stores.ledger import LedgerEntry
from labledger.stores.signed_wire import SignedBodyIn  # noqa: TC001 - FastAPI reads it

if TYPE_CHECKING:
    from labledger.workspace.workspace import Workspace

__all__ = ["router"]

router = APIRouter(prefix="/api/v1/ledger", tags=["ledger"])


class EntriesOut(BaseModel):
    """Entries in order; ``next_after_seq`` continues the list (``null`` after the last)."""

    items: list[LedgerEntry]
    next_after_seq: int | None


class SignatureOut(BaseModel):
    actor: str
    public_key: str
    signature: str


class CheckpointOut(BaseModel):
    """A signed checkpoint document (``labledger-checkpoint/1``)."""

    format: str
    workspace: str
    size: int
    root: str
    time: float
    signatures: list[SignatureOut]


class ConsistencyOut(BaseModel):
    """The RFC 6962 consistency proof between two tree sizes, as hex hashes."""

    old_size: int
    new_size: int
    proof: list[str]


class ProblemOut(BaseModel):
    kind: str
    id: str
    reason: str
    hint: str


class VerifyOut(BaseModel):
    """What the server found when it re-checked its own ledger, rows and blobs."""

    ok: bool
    entries_checked: int
    blobs_checked: int
    runs_checked: int
    tree_size: int
    tree_root: str
    problems: list[ProblemOut]


def _workspace(request: Request) -> Workspace:
    workspace: Workspace = request.app.state.workspace
    return workspace


@router.get("/entries", response_model=EntriesOut)
def entries(
    request: Request,
    _user: Annotated[User, admin_only()],
    after_seq: Annotated[int, Query(ge=0, le=2**62)] = 0,
    max_results: Annotated[int, Query(ge=1, le=5000)] = 1000,
) -> EntriesOut:
    """Entries after ``after_seq``, in append order."""
    found = _workspace(request).stores.ledger.entries(after_seq=after_seq, limit=max_results)
    more = len(found) == max_results
    return EntriesOut(items=found, next_after_seq=found[-1].seq if more else None)


@router.post("/entries", response_model=LedgerEntry, status_code=201)
def append_signed(
    entry: SignedBodyIn,
    request: Request,
    scope: Annotated[ProjectScope, in_projects(Role.EDITOR)],
) -> LedgerEntry:
    """Chain an entry the signed-in user signed with one of their registered keys (an editor of
    some project: the ledger is one chain for all of them)."""
    require_some_project(scope)
    if entry.actor != scope.user.name:
        raise PermissionDeniedError(
            f"the entry is signed in the name of {entry.actor!r}, but you are {scope.user.name!r}",
            hint="sign entries in your own name (the server's name for you: GET /api/v1/me)",
        )
    return _workspace(request).stores.ledger.append_signed(entry.body(), entry.signature)


@router.post("/checkpoints", response_model=CheckpointOut)
def checkpoint(request: Request, _user: Annotated[User, signed_in()]) -> dict[str, Any]:
    """A new checkpoint of the whole ledger, signed by the server's workspace key."""
    return _workspace(request).stores.ledger.checkpoint().to_dict()


@router.get("/consistency", response_model=ConsistencyOut)
def consistency(
    request: Request,
    _user: Annotated[User, signed_in()],
    old_size: Annotated[int, Query(ge=1, le=2**62)],
    new_size: Annotated[int, Query(ge=1, le=2**62)],
) -> ConsistencyOut:
    """The proof that the tree of ``new_size`` entries extends the tree of ``old_size``."""
    proof = _workspace(request).stores.ledger.consistency(old_size, new_size)
    return ConsistencyOut(old_size=old_size, new_size=new_size, proof=proof)


@router.get("/proofs/{ref:path}")
def proof(request: Request, ref: str, _user: Annotated[User, admin_only()]) -> dict[str, Any]:
    """The inclusion proof of a run or artifact (``labledger verify-proof`` checks it offline)."""
    return _workspace(request).stores.ledger.proof(ref)


@router.post("/verify", response_model=VerifyOut)
def verify(request: Request, _user: Annotated[User, admin_only()], blobs: bool = True) -> VerifyOut:
    """Re-check the server's own ledger, rows and (with ``blobs``) every blob."""
    from labledger.workspace.verify import verify_workspace

    report = verify_workspace(_workspace(request), blobs=blobs, remember=False)
    return VerifyOut(
        ok=report.ok,
        entries_checked=report.entries_checked,
        blobs_checked=report.blobs_checked,
        runs_checked=report.runs_checked,
        tree_size=report.tree_size,
        tree_root=report.tree_root,
        problems=[
            ProblemOut(kind=p.kind, id=p.id, reason=p.reason, hint=p.hint) for p in report.problems
        ],
    )
