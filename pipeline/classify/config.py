"""Typed settings of the classify stage, built from the ``classify:`` params block."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from pipeline.annotate.cloth_mask import ClothMaskConfig
from pipeline.categories import CATEGORIES  # re-exported by pipeline.classify
from pipeline.config_mapping import check_keys, from_mapping

# Words looked up in a product's category and name; plurals ("shirts", "dresses") match too.
DEFAULT_KEYWORDS: dict[str, list[str]] = {
    "upper_body": [
        "shirt", "tshirt", "t-shirt", "tee", "top", "blouse", "sweater", "jumper", "pullover",
        "hoodie", "sweatshirt", "jacket", "cardigan", "coat", "blazer", "vest", "tank", "polo",
        "tunic", "upper_body", "upper",
    ],
    "lower_body": [
        "pants", "trousers", "jeans", "shorts", "skirt", "leggings", "chinos", "joggers",
        "culottes", "lower_body", "lower", "bottoms",
    ],
    "dresses": ["dress", "gown", "jumpsuit", "romper", "dresses"],
}


@dataclass(frozen=True)
class PersonRule:
    """When a MediaPipe Pose detection counts as a person wearing clothes.

    Shoulders must be visible. Hips only need to be *predicted* no lower than
    ``max_hip_y`` image heights: catalogue shots cropped at the waist or chest get
    their hips placed below the frame (1.0-1.7 heights on the demo shop's crops) with
    near-zero visibility, which is still a usable upper-body try-on photo. Full-body shops can raise ``min_hip_visibility`` and
    lower ``max_hip_y`` to 1.0 to demand visible hips.
    """

    model_complexity: int = 1
    min_detection_confidence: float = 0.5
    min_shoulder_visibility: float = 0.5
    max_hip_y: float = 2.0
    min_hip_visibility: float = 0.0
    # Pose "detections" on flat garments tend to be tiny or upside down: a real torso has
    # its hips below its shoulders, and its shoulder width (fraction of image width) or its
    # shoulder-to-hip height (fraction of image height, within the frame) reaches this.
    min_torso_size: float = 0.15
    detect_max_side: int = 512
    # Faces (MediaPipe full-range face detector) count the people; with several, pose runs
    # on a crop around the largest face so the biggest person is the one measured.
    count_faces: bool = True
    min_face_confidence: float = 0.6
    crop_face_widths: float = 3.0
    retry_padded: bool = True  # no pose found: try once more on a copy with room below the frame
    # A pose alone is no proof (MediaPipe finds bodies in flat garments): a person also needs a
    # face, or skin at min_skin_sites of hands, wrists, elbows, knees, ankles and neck (each at
    # least skin_fraction skin, in disks of skin_radius shoulder widths) while the torso or the
    # hips are covered: under max_covered_skin skin, or min_skin_contrast (CIELAB) away from
    # that skin's tone. Fitted on 300 persons and 300 garments of viton256/train
    # (pipeline.classify.skin).
    require_evidence: bool = True
    skin_fraction: float = 0.3
    min_skin_sites: int = 2
    max_covered_skin: float = 0.4
    min_skin_contrast: float = 20.0
    skin_radius: float = 0.15
    # A part under max_covered_skin skin still is no clothing when its colour is within
    # min_covered_gap (CIELAB) of the sites' "skin": then the sites are the same fabric. A torso
    # that is skin and within that gap is one material with the sites: the hips cannot then
    # prove clothing. Set by reasoning (half of min_skin_contrast), checked on viton256/train.
    min_covered_gap: float = 10.0

    @classmethod
    def from_dict(cls, data: dict[str, Any] | None) -> PersonRule:
        """Build from a params mapping; unknown keys are an error."""
        rule = from_mapping(cls, data, "classify.person")
        if rule.model_complexity not in (0, 1, 2):
            raise ValueError("classify.person.model_complexity must be 0, 1 or 2")
        if rule.detect_max_side < 64:
            raise ValueError("classify.person.detect_max_side must be at least 64")
        return rule


@dataclass(frozen=True)
class GarmentRule:
    """When a picture without a person counts as one garment on a plain background.

    The decision is the cloth-mask segmentation's (``cloth_mask``: the same model and defaults as
    the ``agnostic.cloth_mask`` step), run on a copy of ``analysis_max_side`` pixels; then the
    object's share of the picture must lie between the two foreground fractions.
    """

    analysis_max_side: int = 256
    border_width: float = 0.03  # fraction of the shorter side sampled for the border_uniformity score
    background_tolerance: int = 28  # max per-channel distance from the border colour (that score)
    min_foreground_fraction: float = 0.03
    max_foreground_fraction: float = 0.95
    cloth_mask: ClothMaskConfig = field(default_factory=ClothMaskConfig)

    @classmethod
    def from_dict(cls, data: dict[str, Any] | None) -> GarmentRule:
        """Build from a params mapping; unknown keys are an error."""
        data = dict(data or {})
        mask_cfg = ClothMaskConfig.from_dict(data.pop("cloth_mask", None))
        rule = from_mapping(cls, {**data, "cloth_mask": mask_cfg}, "classify.garment")
        if not 0 < rule.border_width < 0.5:
            raise ValueError("classify.garment.border_width must be in (0, 0.5)")
        return rule


@dataclass(frozen=True)
class ClassifyConfig:
    """Everything the classify stage needs besides its input and output paths."""

    person: PersonRule = field(default_factory=PersonRule)
    garment: GarmentRule = field(default_factory=GarmentRule)
    category_keywords: dict[str, list[str]] = field(default_factory=lambda: dict(DEFAULT_KEYWORDS))
    test_fraction: float = 0.2
    seed: int = 1234

    @classmethod
    def from_dict(cls, data: dict[str, Any] | None) -> ClassifyConfig:
        """Build from the ``classify:`` params block; unknown keys are an error."""
        data = dict(data or {})
        check_keys(cls, data, "classify")
        keywords = data.get("category_keywords", DEFAULT_KEYWORDS)
        bad = sorted(set(keywords) - set(CATEGORIES))
        if bad:
            raise ValueError(f"classify.category_keywords: unknown categories {bad}; use {list(CATEGORIES)}")
        cfg = cls(
            person=PersonRule.from_dict(data.get("person")),
            garment=GarmentRule.from_dict(data.get("garment")),
            category_keywords={k: [str(w).lower() for w in v] for k, v in keywords.items()},
            test_fraction=float(data.get("test_fraction", 0.2)),
            seed=int(data.get("seed", 1234)),
        )
        if not 0.0 <= cfg.test_fraction < 1.0:
            raise ValueError("classify.test_fraction must be in [0, 1)")
        return cfg
