"""One picture in, one label out: person, garment or rejected (with the reason and the scores)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from pipeline.classify.category import category_from_silhouette, category_from_text
from pipeline.classify.config import ClassifyConfig
from pipeline.classify.garment import analyse_garment
from pipeline.classify.person import PersonDetector

PERSON, GARMENT, REJECTED = "person", "garment", "rejected"


@dataclass
class Verdict:
    """What an image is, and the measurements that decided it (written to ``images.csv``)."""

    label: str
    reason: str = ""
    category: str = ""
    category_source: str = ""  # "text", "silhouette" or "" when unknown
    scores: dict[str, Any] = field(default_factory=dict)


class ImageClassifier:
    """Person first (MediaPipe Pose), else the plain-background single-object garment test."""

    def __init__(self, cfg: ClassifyConfig) -> None:
        self.cfg = cfg
        self.detector = PersonDetector(cfg.person)

    def close(self) -> None:
        """Release the pose model."""
        self.detector.close()

    def __enter__(self) -> ImageClassifier:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def classify(self, rgb: np.ndarray, texts: tuple[str | None, ...] = ()) -> Verdict:
        """Label an ``HxWx3`` uint8 RGB array; ``texts`` (product category, name) give the category."""
        text_category = category_from_text(texts, self.cfg.category_keywords)
        person = self.detector.detect(rgb)
        scores: dict[str, Any] = {
            "pose_found": int(person.pose_found),
            "people": person.people,
            "person_selected": person.selected if person.pose_found else "",
            "shoulder_visibility": round(person.shoulder_visibility, 4),
            "hip_visibility": round(person.hip_visibility, 4),
            "shoulder_width": round(person.shoulder_width, 4),
            "hip_y": round(person.hip_y, 4),
        }
        category, source = (text_category, "text") if text_category else ("", "")
        if person.is_person:
            return Verdict(PERSON, "", category, source, scores)
        if person.reason:
            return Verdict(REJECTED, person.reason, category, source, scores)

        garment = analyse_garment(rgb, self.cfg.garment)
        scores.update(
            border_uniformity=round(garment.border_uniformity, 4),
            foreground_fraction=round(garment.foreground_fraction, 4),
            objects=garment.objects,
            second_object_ratio=round(garment.second_object_ratio, 4),
        )
        if not garment.is_garment:
            return Verdict(REJECTED, garment.reason, category, source, scores)
        if not category and garment.mask is not None:
            category, features = category_from_silhouette(garment.mask)
            source = "silhouette"
            scores.update({f"shape_{k}": round(v, 4) for k, v in features.items()})
        return Verdict(GARMENT, "", category, source, scores)
