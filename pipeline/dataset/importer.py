"""Import a published, annotated try-on data set into the VITON-HD layout the training stages read.

Per pair (:class:`ImportJob`, run in worker processes by :mod:`pipeline.annotate.parallel`):

* person photo and garment are copied as they are;
* the source's parse is mapped to CIHP ids (LIP and ATR/Dress Code tables in
  :mod:`pipeline.annotate.parse.labels`), with the neck recovered for LIP/ATR, which have none;
* the source's pose is mapped to BODY_25 (COCO-18 gains MidHip; Dress Code's 384x512 points are scaled);
* with ``reannotate`` the project's own parser and pose estimator replace both;
* what the source lacks is computed with the project's code: agnostic image and mask and
  parse agnostic (:func:`pipeline.annotate.agnostic.make_agnostic`), the skeleton drawing, and
  the garment mask (thresholded when the source's is a lossy JPEG, repaired when it is hollow or
  fills the frame, segmented when there is none).

A pair with a missing or broken file is a counted skip with its reason; the run goes on.
Nothing but file names is held across pairs, so memory stays flat with the data set's size.
"""

from __future__ import annotations

import dataclasses
import json
import shutil
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import cv2
import numpy as np
from PIL import Image

from pipeline.annotate.agnostic import AgnosticConfig, AgnosticError, make_agnostic
from pipeline.annotate.body25 import coco18_to_body25
from pipeline.annotate.cloth_mask import ClothMaskConfig, ClothMaskError, cloth_mask
from pipeline.annotate.job_io import png_bytes, write_file
from pipeline.annotate.parallel import ItemResult, run_items
from pipeline.annotate.parse.labels import to_cihp
from pipeline.config_mapping import check_keys
from pipeline.dataset.annotation_record import OWN_LABELS, PROVENANCE_FILE, annotation_record, write_annotation
from pipeline.dataset.layout import (
    AGNOSTIC,
    AGNOSTIC_MASK,
    CLOTH,
    CLOTH_MASK,
    IMAGE,
    PARSE,
    PARSE_AGNOSTIC,
    POSE_IMG,
    POSE_JSON,
    file_path,
)
from pipeline.dataset.source_formats import DEFAULT_SPLITS, DRESSCODE_KEYPOINT_WIDTH, SourcePair, list_pairs
from pipeline.io.images import encode_jpeg
from pipeline.log import get_logger
from pipeline.stage_metrics import StageMetrics

log = get_logger(__name__)


@dataclass(frozen=True)
class ImportConfig:
    """What to import and how. ``splits`` maps an output split to the source split names tried in turn."""

    source: str = ""
    format: str = "auto"  # auto | viton | vitonhd | dresscode
    splits: dict[str, tuple[str, ...]] = field(default_factory=lambda: dict(DEFAULT_SPLITS))
    reannotate: bool = False  # parse and pose with the project's own annotators instead of the source's
    fill_neck: bool = True  # LIP/ATR parses have no neck label; recover it from skin colour under the face
    mask_threshold: int = 128  # greyscale JPEG cloth masks: >= this is garment
    repair_masks: bool = True  # replace hollow or frame-filling source masks (see repair_source_mask)
    hollow_share: float = 0.15  # source missing more of the computed mask's core than this: hollow
    full_share: float = 0.9  # source covering more of the frame than this: not a garment outline
    default_category: str = "upper_body"  # for sources whose pairs file names none (VITON, VITON-HD)
    limit: int | None = None  # import only the first N pairs of each split (quick trials)
    tune_pairs: int = 0  # the last N training pairs form a "tune" split instead: validation while training, not the test
    workers: int = 2

    @classmethod
    def from_dict(cls, data: dict[str, Any] | None) -> "ImportConfig":
        """Build from the ``import_data`` params block; unknown keys and bad values raise ``ValueError``."""
        data = dict(data or {})
        check_keys(cls, data, "import_data")
        if "splits" in data:
            splits = data["splits"]
            if not isinstance(splits, dict) or not splits:
                raise ValueError("import_data.splits must map output split names to source split names")
            data["splits"] = {str(k): tuple([v] if isinstance(v, str) else v) for k, v in splits.items()}
        cfg = cls(**data)
        if not cfg.source:
            raise ValueError("import_data.source is empty; set it to a data-set folder (VITON, VITON-HD or Dress Code)")
        if cfg.format not in ("auto", "viton", "vitonhd", "dresscode"):
            raise ValueError(f"import_data.format must be auto, viton, vitonhd or dresscode, got {cfg.format!r}")
        if not 0 < cfg.mask_threshold < 256:
            raise ValueError(f"import_data.mask_threshold must be in 1..255, got {cfg.mask_threshold!r}")
        if not 0 < cfg.hollow_share < 1 or not 0 < cfg.full_share <= 1:
            raise ValueError("import_data.hollow_share must be in (0, 1) and full_share in (0, 1]")
        if cfg.tune_pairs < 0:
            raise ValueError(f"import_data.tune_pairs must be >= 0, got {cfg.tune_pairs!r}")
        if cfg.limit is not None and cfg.limit < 1:
            raise ValueError(f"import_data.limit must be null or >= 1, got {cfg.limit!r}")
        return cfg


def read_dresscode_keypoints(path: Path, image_width: int) -> np.ndarray:
    """BODY_25 ``(25, 3)`` from a Dress Code keypoints file (18 ``[x, y, score, id]``; -1 = missing)."""
    doc = json.loads(path.read_text(encoding="utf-8"))
    pts = np.asarray(doc["keypoints"], dtype=np.float64)
    if pts.ndim != 2 or pts.shape[0] != 18 or pts.shape[1] < 3:
        raise ValueError(f"expected 18 keypoints [x, y, score, id], got shape {pts.shape}")
    coco = pts[:, :3].copy()
    missing = (coco[:, 0] < 0) | (coco[:, 1] < 0)
    coco[:, :2] *= image_width / DRESSCODE_KEYPOINT_WIDTH
    coco[missing] = 0.0
    return coco18_to_body25(coco)


def _source_pose(pair: SourcePair, image_width: int) -> tuple[np.ndarray, bool]:
    """BODY_25 keypoints of the source's pose file, and whether the file itself is already BODY_25."""
    from pipeline.annotate.openpose_format import read_openpose_json

    if pair.pose_kind == "dresscode":
        return read_dresscode_keypoints(pair.pose, image_width), False
    person = read_openpose_json(pair.pose)
    if person is None:
        raise ValueError("the pose file lists nobody")
    if person.body.shape[0] == 18:
        return coco18_to_body25(person.body), False
    return person.body, True


def _source_parse(pair: SourcePair, rgb: np.ndarray, fill: bool) -> np.ndarray:
    from pipeline.annotate.parse.skin import fill_neck

    with Image.open(pair.parse) as img:
        if img.mode not in ("P", "L"):
            raise ValueError(f"label map must be a palette or grey PNG, got mode {img.mode}")
        raw = np.asarray(img)
    if raw.shape != rgb.shape[:2]:
        raise ValueError(f"parse {raw.shape[1]}x{raw.shape[0]} does not match the photo {rgb.shape[1]}x{rgb.shape[0]}")
    labels = to_cihp(raw, pair.label_set)
    if pair.label_set != "cihp" and fill:
        labels = fill_neck(labels, rgb)
    return labels


@dataclass(frozen=True)
class ImportJob:
    """Converts one :class:`SourcePair` into the VITON-HD files under ``out_root/<split>/``."""

    config: ImportConfig
    agnostic: AgnosticConfig
    cloth_mask: ClothMaskConfig
    out_root: Path
    parse_params: dict[str, Any] = field(default_factory=dict)
    pose_params: dict[str, Any] = field(default_factory=dict)

    def __call__(self) -> Callable[[SourcePair], ItemResult]:
        from pipeline.annotate.openpose_format import render_skeleton, to_openpose_dict
        from pipeline.annotate.parse.palette_io import to_palette_image

        parser = estimator = None
        if self.config.reannotate:
            from pipeline.annotate.parse import ParseConfig, build_parser
            from pipeline.annotate.pose import PoseConfig, PoseEstimator

            parser = build_parser(ParseConfig.from_dict(self.parse_params))
            estimator = PoseEstimator(PoseConfig.from_dict(self.pose_params))

        def run(pair: SourcePair) -> ItemResult:
            for what, path in (("image", pair.image), ("cloth", pair.cloth_image), ("parse", pair.parse), ("pose", pair.pose)):
                if not (self.config.reannotate and what in ("parse", "pose")) and not path.is_file():
                    return ItemResult.skipped(pair.name, f"missing_{what}", str(path))
            try:
                with Image.open(pair.image) as img:
                    rgb = np.asarray(img.convert("RGB"))
                with Image.open(pair.cloth_image) as img:
                    cloth_rgb = np.asarray(img.convert("RGB"))
            except Exception as exc:  # noqa: BLE001 - PIL raises many types for broken files
                return ItemResult.skipped(pair.name, "unreadable_image", str(exc))
            try:
                if parser is not None and estimator is not None:
                    labels = np.asarray(parser.parse(rgb), dtype=np.uint8)
                    found = estimator.estimate(rgb)
                    if found is None:
                        return ItemResult.skipped(pair.name, "no_person", "the pose estimator found nobody")
                    body, pose_is_body25 = np.asarray(found.body, dtype=np.float64), False
                else:
                    labels = _source_parse(pair, rgb, self.config.fill_neck)
                    body, pose_is_body25 = _source_pose(pair, rgb.shape[1])
            except Exception as exc:  # noqa: BLE001 - an odd annotation file is one pair's problem
                reason = "annotation_failed" if self.config.reannotate else "unreadable_annotation"
                return ItemResult.skipped(pair.name, reason, f"{type(exc).__name__}: {exc}")
            try:
                mask, mask_flag = self._cloth_mask(pair, cloth_rgb)
            except ClothMaskError as exc:
                return ItemResult.skipped(pair.name, f"cloth_{exc.reason}", exc.detail)
            except (OSError, ValueError) as exc:
                return ItemResult.skipped(pair.name, "unreadable_cloth_mask", str(exc))
            reused = dict(pair.reuse) if not self.config.reannotate else {}
            agn = None
            if not {AGNOSTIC, AGNOSTIC_MASK, PARSE_AGNOSTIC} <= set(reused):
                try:
                    agn = make_agnostic(rgb, labels, body, self.agnostic, category=pair.category)
                except AgnosticError as exc:
                    return ItemResult.skipped(pair.name, exc.reason, exc.detail)
            base = self.out_root / pair.split
            s, cs = Path(pair.person).stem, Path(pair.cloth).stem
            shutil.copyfile(pair.image, base / IMAGE / pair.person)
            shutil.copyfile(pair.cloth_image, base / CLOTH / pair.cloth)
            write_file(base / CLOTH_MASK / f"{cs}.png", png_bytes(Image.fromarray(mask)))
            if pair.label_set == "cihp" and not self.config.reannotate:
                shutil.copyfile(pair.parse, file_path(base, PARSE, s))  # already in the layout's ids
            else:
                write_file(file_path(base, PARSE, s), png_bytes(to_palette_image(labels)))
            if pose_is_body25:
                shutil.copyfile(pair.pose, file_path(base, POSE_JSON, s))  # keeps its hands and face
            else:
                write_file(file_path(base, POSE_JSON, s), (json.dumps(to_openpose_dict(body)) + "\n").encode())
            if POSE_IMG in reused:
                shutil.copyfile(reused[POSE_IMG], file_path(base, POSE_IMG, s))
            else:
                skeleton = render_skeleton(body, rgb.shape[1], rgb.shape[0])
                write_file(file_path(base, POSE_IMG, s), png_bytes(Image.fromarray(skeleton)))
            if agn is None:
                for folder in (AGNOSTIC, AGNOSTIC_MASK, PARSE_AGNOSTIC):
                    shutil.copyfile(reused[folder], file_path(base, folder, s))
            else:
                write_file(file_path(base, AGNOSTIC, s), encode_jpeg(Image.fromarray(agn.image)))
                write_file(file_path(base, AGNOSTIC_MASK, s), png_bytes(Image.fromarray(agn.mask).convert("RGB")))
                write_file(file_path(base, PARSE_AGNOSTIC, s), png_bytes(to_palette_image(agn.parse_agnostic)))
            flags = (mask_flag,) if mask_flag else ()
            return ItemResult(pair.name, ok=True, flags=flags, info={"line": f"{pair.person} {pair.cloth} {pair.category}"})

        return run

    def _cloth_mask(self, pair: SourcePair, cloth_rgb: np.ndarray) -> tuple[np.ndarray, str]:
        """0/255 garment mask and a flag: the source's, thresholded (lossless from here on) and
        repaired when broken, or computed when absent."""
        if pair.cloth_mask is None:
            return cloth_mask(cloth_rgb, self.cloth_mask), "cloth_mask_computed"
        with Image.open(pair.cloth_mask) as img:
            grey = np.asarray(img.convert("L"))
        if grey.shape != cloth_rgb.shape[:2]:
            raise ValueError(f"cloth mask {grey.shape[1]}x{grey.shape[0]} does not match the garment {cloth_rgb.shape[1]}x{cloth_rgb.shape[0]}")
        source = grey >= self.config.mask_threshold
        flag = ""
        if self.config.repair_masks:
            source, flag = repair_source_mask(source, cloth_rgb, self.config, self.cloth_mask)
        return source.astype(np.uint8) * 255, flag


# The computed mask's core: eroded by this share of the width, so that its ragged rim and the
# sleeve-to-torso gaps it sometimes closes do not count as pixels the source misses.
_CORE_EROSION = 0.04


def repair_source_mask(
    source: np.ndarray, cloth_rgb: np.ndarray, config: ImportConfig, mask_config: ClothMaskConfig = ClothMaskConfig(),
) -> tuple[np.ndarray, str]:
    """Fix a data set's broken garment mask with the project's own; return the mask and a flag ("" when kept).

    VITON's masks were thresholded from the shots by their authors, and a few percent of them are
    broken: a light or printed garment comes out hollow (only its outline and dark prints are set),
    or the whole frame is set. Trained on, such a mask tells the GMM the garment is an outline and
    forbids the TOM to paste inside it. A source mask that covers most of the frame is replaced by
    the computed one; one that misses much of the computed mask's core gets the union of both (the
    computed mask can itself miss white-on-white parts that the source has). A shot the cloth-mask
    code refuses (no plain background) keeps its source mask.
    """
    try:
        ours = cloth_mask(cloth_rgb, mask_config) > 127
    except ClothMaskError:
        return source, ""
    defect = source_mask_defect(source, ours, config)
    if defect == "full":
        return ours, "cloth_mask_repaired_full"
    if defect == "hollow":
        return source | ours, "cloth_mask_repaired_hollow"
    return source, ""


def source_mask_defect(source: np.ndarray, computed: np.ndarray, config: ImportConfig) -> str:
    """How a data set's bool garment mask is broken, judged against the computed one: "full", "hollow" or ""."""
    if source.mean() > config.full_share:
        return "full"
    k = max(1, int(round(_CORE_EROSION * source.shape[1]))) * 2 + 1
    core = cv2.erode(computed.astype(np.uint8), cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (k, k))).astype(bool)
    if core.any() and (core & ~source).sum() > config.hollow_share * core.sum():
        return "hollow"
    return ""


@dataclass
class ImportReport:
    """What an import wrote: pairs per split, skips by reason, flags."""

    pairs: dict[str, int]
    metrics: StageMetrics


def import_dataset(
    config: ImportConfig,
    out_root: Path,
    agnostic: AgnosticConfig = AgnosticConfig(),
    mask_config: ClothMaskConfig = ClothMaskConfig(),
    parse_params: dict[str, Any] | None = None,
    pose_params: dict[str, Any] | None = None,
    progress: bool = True,
) -> ImportReport:
    """Convert ``config.source`` into ``out_root`` (which must be empty or absent; the stage passes an atomic folder).

    Writes ``<out_root>/<split>/<folder>/...``, ``<split>_pairs.txt`` (``person cloth category``) and
    ``annotation.json`` (the annotation settings, :mod:`pipeline.dataset.annotation_record`).
    Raises :class:`~pipeline.dataset.source_formats.SourceLayoutError` when the source has none of
    the known layouts or no pair at all.
    """
    from pipeline.annotate.parallel import record
    from pipeline.dataset.source_formats import SourceLayoutError

    metrics = StageMetrics("import_data")
    pairs = list_pairs(config.source, config.format, config.splits, config.default_category)  # type: ignore[arg-type]
    items: list[SourcePair] = []
    per_split: Counter[str] = Counter()
    for pair in pairs:
        if config.limit is not None and per_split[pair.split] >= config.limit:
            continue
        per_split[pair.split] += 1
        items.append(pair)
    if not items:
        raise SourceLayoutError(f"{config.source}: no pairs found for the splits {dict(config.splits)}")
    if config.tune_pairs:
        train = [k for k, p in enumerate(items) if p.split == "train"]
        if len(train) <= config.tune_pairs:
            raise ValueError(f"import_data.tune_pairs={config.tune_pairs} leaves no training pairs (train has {len(train)})")
        for k in train[-config.tune_pairs:]:
            items[k] = dataclasses.replace(items[k], split="tune")
        per_split = Counter(p.split for p in items)
    for split in per_split:
        for folder in (IMAGE, CLOTH, CLOTH_MASK, PARSE, POSE_JSON, POSE_IMG, AGNOSTIC, AGNOSTIC_MASK, PARSE_AGNOSTIC):
            (out_root / split / folder).mkdir(parents=True, exist_ok=True)
    job = ImportJob(config, agnostic, mask_config, out_root, dict(parse_params or {}), dict(pose_params or {}))
    metrics.items_in = len(items)
    order = {p.name: k for k, p in enumerate(items)}
    ranked: dict[str, list[tuple[int, str]]] = {s: [] for s in per_split}
    for result in run_items(items, job, workers=config.workers, desc="import", progress=progress):
        record(metrics, result)
        if result.ok:
            split = result.name.split("/", 1)[0]
            ranked[split].append((order[result.name], result.info["line"]))
    for split, entries in ranked.items():
        # Workers finish out of order; the pairs file keeps the source's order.
        write_file(out_root / f"{split}_pairs.txt", "".join(f"{line}\n" for _, line in sorted(entries)).encode())
    counts = {s: len(v) for s, v in ranked.items()}
    own = config.reannotate or (Path(config.source) / PROVENANCE_FILE).is_file()
    labels = ("parse and pose computed by the project with these settings" if config.reannotate else
              f"the source's parse and pose, made by {OWN_LABELS}" if own else
              "the source's own parse and pose where it has them, computed with these settings where it lacks them")
    record = annotation_record(parse_params or {}, pose_params or {}, agnostic, mask_config, labels)
    record["own_labels"] = own
    write_annotation(out_root, record)
    metrics.extra["pairs"] = counts
    log.info("import finished", source=config.source, pairs=counts, skipped=dict(metrics.skipped))
    return ImportReport(counts, metrics)
