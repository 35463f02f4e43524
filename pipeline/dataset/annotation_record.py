"""The annotation settings a data set was made with, written beside it and carried into every model trained on it.

A try-on model learns from one kind of parse, pose and agnostic; served with another (a learned
parser against MediaPipe's, another agnostic margin) it meets inputs it never saw. So ``import_data``
writes ``annotation.json`` (the ``parse``, ``pose``, ``agnostic`` and ``cloth_mask`` settings in the
form their configs' ``from_dict`` take), the training stages copy it into the model's ``meta.json``,
and the inference engine annotates with it unless told otherwise.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

from pipeline.io.atomic import write_json

ANNOTATION_FILE = "annotation.json"
# Written by the dataset stage: its parse and pose are this project's own annotators' output, so a
# network trained to reproduce them (train_parse, train_pose_refine) measures imitation, not accuracy.
PROVENANCE_FILE = "provenance.json"
OWN_LABELS = "this project's own parse and pose stages (its annotators' output, not hand labels)"
SECTIONS = ("parse", "pose", "agnostic", "cloth_mask")


def annotation_record(parse: dict[str, Any], pose: dict[str, Any], agnostic: Any, cloth_mask: Any, labels: str) -> dict[str, Any]:
    """The record: plain dicts per section (dataclass configs are turned into dicts), and where the
    data set's own labels came from (``labels``: a sentence for people reading meta.json)."""
    def plain(value: Any) -> dict[str, Any]:
        return dataclasses.asdict(value) if dataclasses.is_dataclass(value) else dict(value or {})

    return {"parse": plain(parse), "pose": plain(pose), "agnostic": plain(agnostic), "cloth_mask": plain(cloth_mask),
            "labels": labels}


def write_annotation(root: Path, record: dict[str, Any]) -> None:
    """Write ``root/annotation.json``."""
    write_json(root / ANNOTATION_FILE, record)


def read_annotation(root: str | Path) -> dict[str, Any] | None:
    """The record beside a data set (or in a model's ``meta.json`` under ``annotation``); None when there is none
    or it is unreadable, so older data sets and models keep working with the defaults."""
    path = Path(root) / ANNOTATION_FILE
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return valid_record(record)


def valid_record(record: Any) -> dict[str, Any] | None:
    """``record`` when it has the four sections as mappings, else None."""
    if not isinstance(record, dict) or not all(isinstance(record.get(s), dict) for s in SECTIONS):
        return None
    return record


# Settings that name a model folder, per section: a release folder records them relative to itself.
MODEL_PATHS = (("parse", "learned_model"), ("pose", "refiner_model"))


def resolve_model_paths(record: dict[str, Any], base: Path) -> dict[str, Any]:
    """``record`` with relative model folders (``parse.learned_model``, ``pose.refiner_model``) that exist
    under ``base`` made absolute; other values, absolute paths and empty ones are kept as they are."""
    out = {k: dict(v) if isinstance(v, dict) else v for k, v in record.items()}
    for section, key in MODEL_PATHS:
        value = out[section].get(key)
        if value and not Path(value).is_absolute() and (base / value).exists():
            out[section][key] = str((base / value).resolve())
    return out


def write_provenance(root: Path) -> None:
    """Mark ``root`` as a data set whose labels are the project's own annotation."""
    write_json(root / PROVENANCE_FILE, {"labels": OWN_LABELS})


def reference_labels(root: str | Path) -> tuple[str, bool]:
    """What a data set's parse and pose labels are (from its ``annotation.json``), and whether they are the
    project's own annotation rather than a published data set's labels."""
    record = read_annotation(root) or {}
    labels = str(record.get("labels") or "unknown (the data set records no annotation.json)")
    own = bool(record.get("own_labels"))
    return labels, own
