"""PROV-JSON export: valid against the PROV-JSON schema, and read back by the ``prov`` package.

``tests/data/prov-json.schema.json`` is a JSON Schema (draft-04) of the W3C PROV-JSON Member
Submission (https://www.w3.org/submissions/prov-json/schema). The tests run without network access,
so it was written for them from the submission's published structure: the prefix map, the maps of
entities, activities and agents, one map per PROV relation with that relation's ``prov:``
properties and required ones, typed literals, and bundles.
"""

from __future__ import annotations

import io
import json
import sys
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import jsonschema
import prov
import pytest

from labledger import ConfigurationError, NotFoundError
from labledger.lineage import export_prov

if TYPE_CHECKING:
    from labledger.workspace.workspace import Workspace
    from tests.unit.lineage.graphs import Study

SCHEMA = json.loads(
    (Path(__file__).resolve().parents[2] / "data" / "prov-json.schema.json").read_text()
)


def _validate(document: dict[str, Any]) -> None:
    jsonschema.Draft4Validator(SCHEMA).validate(document)


def _relations(document: dict[str, Any], kind: str, *keys: str) -> set[tuple[str, ...]]:
    return {tuple(r.get(k) for k in keys) for r in document.get(kind, {}).values()}


def test_the_schema_is_a_draft_4_schema_that_rejects_bad_documents() -> None:
    jsonschema.Draft4Validator.check_schema(SCHEMA)
    validator = jsonschema.Draft4Validator(SCHEMA)
    good = {
        "prefix": {"ex": "urn:ex:"},
        "activity": {"ex:a": {"prov:startTime": "2024-01-02T03:04:05Z"}},
    }
    assert validator.is_valid(good)
    assert not validator.is_valid({**good, "nonsense": {}})
    assert not validator.is_valid({"activity": {"ex:a": {"prov:startTime": "yesterday"}}})
    assert not validator.is_valid({"used": {"_:u": {"prov:entity": "ex:e"}}})  # no activity
    assert not validator.is_valid({"entity": {"ex:e": {"ex:size": {"type": "xsd:int"}}}})


def test_a_pipeline_run_exports_valid_prov(study: Study) -> None:
    document = export_prov(study.runs["second"], workspace=study.workspace)
    _validate(document)
    a, t = study.artifacts, study.tasks

    assert document["prefix"]["labledger"] == "urn:labledger:term:"
    run = f"run:{study.runs['second']}"
    assert set(document["activity"]) == {run} | {
        f"task:{t[n]}" for n in ("clean2", "train2", "eval", "peek")
    }
    assert set(document["entity"]) == {
        f"artifact:{a[n]}" for n in ("raw", "holdout", "clean", "model", "metrics", "score", "peek")
    }
    assert set(document["agent"]) == {"user:ada"}

    score = document["entity"][f"artifact:{a['score']}"]
    assert score["labledger:digest"] == study.digest("score")
    assert score["labledger:kind"] == "file" and score["labledger:format"] == "bin"
    assert score["labledger:size"] == {"$": "4", "type": "xsd:int"}
    assert score["prov:label"] == "eval"

    eval_task = document["activity"][f"task:{t['eval']}"]
    assert eval_task["labledger:step"] == "study.steps.eval"
    for key in ("prov:startTime", "prov:endTime"):
        datetime.fromisoformat(eval_task[key])
    assert document["activity"][run]["labledger:pipeline"] == "study:second"

    assert _relations(document, "used", "prov:activity", "prov:entity") == {
        (f"task:{t['clean2']}", f"artifact:{a['raw']}"),
        (f"task:{t['train2']}", f"artifact:{a['clean']}"),
        (f"task:{t['eval']}", f"artifact:{a['model']}"),
        (f"task:{t['eval']}", f"artifact:{a['holdout']}"),
        (f"task:{t['peek']}", f"artifact:{a['score']}"),
    }
    # Cached tasks reused their outputs: they did not generate them.
    assert _relations(document, "wasGeneratedBy", "prov:entity", "prov:activity") == {
        (f"artifact:{a['score']}", f"task:{t['eval']}"),
        (f"artifact:{a['peek']}", f"task:{t['peek']}"),
    }
    assert _relations(document, "wasDerivedFrom", "prov:generatedEntity", "prov:usedEntity") == {
        (f"artifact:{a['score']}", f"artifact:{a['model']}"),
        (f"artifact:{a['score']}", f"artifact:{a['holdout']}"),
        (f"artifact:{a['peek']}", f"artifact:{a['score']}"),
    }
    assert _relations(document, "wasInformedBy", "prov:informed", "prov:informant") == {
        (f"task:{t['clean2']}", f"task:{t['clean']}"),
        (f"task:{t['train2']}", f"task:{t['train']}"),
        (f"task:{t['peek']}", f"task:{t['eval']}"),
    }
    associated = _relations(document, "wasAssociatedWith", "prov:activity", "prov:agent")
    assert associated == {(activity, "user:ada") for activity in document["activity"]}
    started = _relations(document, "wasStartedBy", "prov:activity", "prov:starter")
    assert started == {(f"task:{t[n]}", run) for n in ("clean2", "train2", "eval", "peek")}


def test_the_export_reads_back_with_the_prov_package(study: Study) -> None:
    document = export_prov(study.runs["first"], workspace=study.workspace)
    parsed = prov.read(io.StringIO(json.dumps(document)), format="json")
    assert parsed is not None
    again = prov.read(io.StringIO(parsed.serialize(format="json")), format="json")
    assert again == parsed
    assert len(parsed.get_records()) == sum(
        len(records) for key, records in document.items() if key != "prefix"
    )
    assert (
        len(document["wasDerivedFrom"]) == 4
    )  # clean<-raw, model<-clean, metrics<-clean, report<-model


def test_a_tracked_run_generated_what_it_logged(workspace: Workspace) -> None:
    from labledger import start_run

    with start_run("notebook", workspace=workspace) as run:
        logged = run.log_artifact({"threshold": 0.5}, name="config.json")
    document = export_prov(run.id[:13], workspace=workspace)
    _validate(document)
    activity = document["activity"][f"run:{run.id}"]
    assert activity["prov:type"] == {"$": "labledger:Run", "type": "xsd:QName"}
    assert _relations(document, "wasGeneratedBy", "prov:entity", "prov:activity") == {
        (f"artifact:{logged.id}", f"run:{run.id}")
    }


def test_unknown_run(workspace: Workspace) -> None:
    with pytest.raises(NotFoundError, match="no run"):
        export_prov("nope", workspace=workspace)


def test_missing_prov_package_says_how_to_install_it(
    workspace: Workspace, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "prov", None)
    monkeypatch.setitem(sys.modules, "prov.model", None)
    with pytest.raises(ConfigurationError, match=r"labledger\[interop\]"):
        export_prov("nope", workspace=workspace)
