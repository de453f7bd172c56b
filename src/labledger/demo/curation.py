"""Curating the demo study: metadata fields on the dataset, and a collection of the chosen model."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from labledger import metadata

if TYPE_CHECKING:
    from labledger.tracking import Artifact, Run
    from labledger.workspace import Workspace

__all__ = ["COLLECTION", "METADATA_QUERY", "Curation", "collect", "describe_dataset"]

COLLECTION = "baseline-models"
METADATA_QUERY = 'cohort = "discovery" and n_samples >= 500'
# The public set was released in November 1995; its assay dates are not published.
_DATASET_VALUES: dict[str, Any] = {
    "cohort": "discovery",
    "n_samples": 569,
    "assay_date": "1995-11-01",
}


@dataclass(frozen=True, slots=True)
class Curation:
    """What the metadata step did.

    Attributes:
        fields: Each defined field as ``name (type, details)``.
        values: Target label to the metadata it now carries.
        query: The metadata search that was run.
        hits: What it found, as ``kind name`` labels.
    """

    fields: tuple[str, ...]
    values: dict[str, dict[str, Any]]
    query: str
    hits: tuple[str, ...]


def _describe(field: metadata.MetadataField) -> str:
    if field.type == "enum":
        details = " | ".join(field.choices or ())
    elif field.type == "number":
        details = field.bounds_text()
    else:
        details = "ISO date"
    return f"{field.name} ({field.type}: {details})"


def describe_dataset(ws: Workspace, ingest_run: Run, dataset: Artifact) -> Curation:
    """Define the study's metadata fields, attach values to the dataset and its ingest run, search."""
    fields = [
        metadata.define_field(
            "cohort",
            "enum",
            choices=("discovery", "validation", "external"),
            description="Which patient cohort the samples belong to.",
            workspace=ws,
        ),
        metadata.define_field(
            "n_samples",
            "number",
            unit="samples",
            minimum=0,
            description="How many biopsies the dataset holds.",
            workspace=ws,
        ),
        metadata.define_field(
            "assay_date",
            "date",
            description="When the samples were assayed (for public data: its release date).",
            workspace=ws,
        ),
    ]
    values = {
        f"artifact {dataset.name}": metadata.set_metadata(
            ("artifact", dataset.id), _DATASET_VALUES, workspace=ws
        ),
        f"run {ingest_run.name}": metadata.set_metadata(
            ("run", ingest_run.id), _DATASET_VALUES, workspace=ws
        ),
    }
    hits = metadata.search(where=METADATA_QUERY, workspace=ws)
    return Curation(
        fields=tuple(_describe(field) for field in fields),
        values=values,
        query=METADATA_QUERY,
        hits=tuple(f"{hit.kind} {hit.title}" for hit in hits),
    )


def collect(ws: Workspace, best: Run, dataset: Artifact) -> metadata.Collection:
    """Put the best run and the dataset it was trained on into the ``baseline-models`` collection."""
    metadata.create_collection(
        COLLECTION,
        description="The best biopsy classifier so far and the data it was trained on.",
        workspace=ws,
    )
    return metadata.add_to_collection(
        COLLECTION, ("run", best.id), ("artifact", dataset.id), workspace=ws
    )
