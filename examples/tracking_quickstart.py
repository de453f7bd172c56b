"""Track a small training loop with labledger: params, a metric per epoch, an artifact, a search.

Run it with ``python examples/tracking_quickstart.py [FOLDER]``; without a folder it works in a
temporary one. Then look around with ``labledger runs list -w FOLDER``.
"""

import math
import sys
import tempfile

import labledger

folder = sys.argv[1] if len(sys.argv) > 1 else tempfile.mkdtemp(prefix="labledger-quickstart-")
labledger.init(folder)  # creates FOLDER/.labledger and makes it the current workspace

for learning_rate in (0.01, 0.1):
    params = {"model": "toy", "learning_rate": learning_rate, "epochs": 20}
    with labledger.start_run(f"toy-lr{learning_rate}", params=params, tags={"team": "assay"}):
        loss = 1.0
        for epoch in range(params["epochs"]):
            loss *= 1 - learning_rate * (1 + math.sin(epoch))  # stands in for one epoch of training
            labledger.log_metric("loss", loss, step=epoch)
        labledger.log_metric("accuracy", 1 - loss / 2)
        labledger.log_artifact({"weights": [0.5, -1.25], "bias": 0.1}, name="model.json")
        labledger.set_tag("note", "converged" if loss < 0.5 else "needs more epochs")

best = labledger.search_runs(
    "metrics.loss < 0.9 and tags.team = 'assay'", order_by=["metrics.loss"]
)
for run in best:
    print(f"{run.name:12} loss={run.metrics['loss']:.3f} note={run.tags['note']}  id={run.id}")
history = labledger.get_metric_history(best[0].id, "loss")
print(f"{best[0].name}: {len(history)} loss values, first {history[0].value:.3f}")
print(f"workspace: {folder}  (try: labledger runs list -w {folder})")
