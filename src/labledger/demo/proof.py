"""The demo's last step: a checkpoint of the ledger, and an inclusion proof for the best model,
checked the way a reader of a paper would check it: in a fresh process, without the workspace."""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from labledger.workspace.checkpoints import make_checkpoint
from labledger.workspace.lookup import find_artifact
from labledger.workspace.proofs import make_proof

if TYPE_CHECKING:
    from labledger.workspace.workspace import Workspace

__all__ = ["ProofStep", "prove_best_model"]


@dataclass(frozen=True, slots=True)
class ProofStep:
    """What the proof step wrote and found.

    Attributes:
        checkpoint: The checkpoint file (keep it outside the workspace).
        proof: The best model's inclusion proof.
        model: The model's bytes, as a reader would download them.
        size: Entries the checkpoint covers.
        root: Its Merkle root.
        ok: Whether the fresh process accepted the proof and the model file.
        output: What that process printed.
    """

    checkpoint: Path
    proof: Path
    model: Path
    size: int
    root: str
    ok: bool
    output: str


def prove_best_model(ws: Workspace, folder: Path, model_ref: str) -> ProofStep:
    """Write ``checkpoint.json``, ``best-model-proof.json`` and the model into ``folder``, then
    check the proof with ``labledger verify-proof`` in a new process started elsewhere."""
    folder = folder.resolve()
    checkpoint = make_checkpoint(ws)
    checkpoint_path = folder / "checkpoint.json"
    checkpoint_path.write_text(checkpoint.to_json(), encoding="utf-8")
    document = make_proof(ws, model_ref)
    proof_path = folder / "best-model-proof.json"
    proof_path.write_text(json.dumps(document, indent=2) + "\n", encoding="utf-8")
    with ws.read() as conn:
        artifact = find_artifact(conn, model_ref)
    suffix = Path(artifact.name).suffix or (f".{artifact.format}" if artifact.format else ".bin")
    model_path = folder / f"best-model{suffix}"
    with ws.store.open(artifact.digest) as source:
        model_path.write_bytes(source.read())
    with tempfile.TemporaryDirectory() as elsewhere:
        checked = subprocess.run(
            [
                sys.executable,
                "-m",
                "labledger",
                "verify-proof",
                str(proof_path),
                "--file",
                str(model_path),
                "--json",
            ],
            cwd=elsewhere,
            capture_output=True,
            text=True,
            check=False,
        )
    try:
        ok = checked.returncode == 0 and bool(json.loads(checked.stdout)["ok"])
    except (ValueError, KeyError):
        ok = False
    return ProofStep(
        checkpoint_path,
        proof_path,
        model_path,
        checkpoint.size,
        checkpoint.root,
        ok,
        checked.stdout + checked.stderr,
    )
