"""Entry point of the process that re-executes a pipeline from its code snapshot.

``reproduce`` starts ``python -m labledger.pipelines.replay '<json>'`` in a scratch working folder
that holds the run's file inputs at their recorded relative paths, with the snapshot's folder
(kept apart from that working folder) first on ``sys.path``, so the snapshot's code is imported,
never a newer copy from a working tree. The last line printed is a JSON summary of the re-run.
"""

from __future__ import annotations

import json
import sys
from typing import Any

__all__ = ["main"]


def main(argv: list[str] | None = None) -> int:
    request: dict[str, Any] = json.loads((argv or sys.argv[1:])[0])
    sys.path.insert(0, request["snapshot"])
    from labledger._foundation.errors import LabledgerError, StepFailedError
    from labledger.pipelines.loader import load_pipeline
    from labledger.pipelines.runner import run_pipeline
    from labledger.workspace.current import get_workspace

    summary: dict[str, Any] = {}
    try:
        pipeline = load_pipeline(request["pipeline"])
        result = run_pipeline(
            pipeline,
            request["params"],
            cache=False,
            workspace=get_workspace(),
            run_name=request.get("name"),
            seed=request["seed"],
            reproduces=request["reproduces"],
            path_map=request.get("path_map") or {},
            project=request.get("project") or "default",
        )
        summary = {"run_id": result.run_id, "status": result.status}
        summary["tasks"] = {k: t.digests for k, t in result.tasks.items()}
    except StepFailedError as exc:
        summary = {"error": exc.message, "run_id": exc.run_id, "node": exc.node}
    except LabledgerError as exc:
        summary = {
            "error": exc.message,
            "hint": exc.hint,
            "code": exc.code,
            "run_id": getattr(exc, "run_id", None),
        }
    print("\n" + json.dumps(summary))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
