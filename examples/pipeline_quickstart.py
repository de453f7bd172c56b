"""A three-step pipeline: run it twice and the second run comes from the cache.

Run it with ``python examples/pipeline_quickstart.py [FOLDER]`` (a temporary folder by default), or
``labledger run examples/pipeline_quickstart.py:plate_summary -p threshold=0.5`` inside a workspace.
"""

import sys
import tempfile

import labledger
from labledger.pipelines import pipeline, step


@step
def read_plate(wells: int) -> list[float]:
    # Stands in for reading a plate reader's export: one absorbance per well.
    return [round(0.05 + (i * 37 % 100) / 100, 3) for i in range(wells)]


@step
def hits(absorbance: list[float], threshold: float) -> list[int]:
    return [well for well, value in enumerate(absorbance) if value >= threshold]


@step
def summary(absorbance: list[float], hit_wells: list[int]) -> dict[str, float]:
    return {"wells": len(absorbance), "hits": len(hit_wells), "max": max(absorbance)}


@pipeline
def plate_summary(wells: int = 96, threshold: float = 0.8) -> None:
    absorbance = read_plate(wells)
    summary(absorbance, hits(absorbance, threshold))


if __name__ == "__main__":
    folder = sys.argv[1] if len(sys.argv) > 1 else tempfile.mkdtemp(prefix="labledger-pipeline-")
    labledger.init(folder)
    first = plate_summary.run()
    print("first run ran:", first.executed)
    again = plate_summary.run()
    print("second run came from the cache:", again.cached)
    changed = plate_summary.run(threshold=0.5)
    print("threshold 0.5 re-ran:", changed.executed, "->", changed.load("summary"))
