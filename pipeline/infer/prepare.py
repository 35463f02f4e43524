"""Turn a raw person photo and garment shot into the models' input tensors, as the data stages would.

The person is letterboxed (border-coloured padding, as the augment stage pads) to the
annotation size, which has the model's aspect ratio; pose, parse and agnostic run there,
and the results are resized to the model size exactly as :class:`~pipeline.train.data.VitonDataset`
resizes the files those stages write (bilinear images, nearest-neighbour labels, heat maps
at ``pose_sigma * height``). The garment is letterboxed on white (the augment stage's
cloth padding) and masked with the cloth-mask engine at the same size.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
from PIL import Image

from pipeline.annotate.agnostic import AgnosticConfig, AgnosticError, make_agnostic
from pipeline.annotate.cloth_mask import ClothMaskConfig, ClothMaskError, cloth_mask
from pipeline.annotate.parse import NoPersonFound, ParseConfig, ParseError, build_parser
from pipeline.annotate.pose import PoseConfig, PoseEstimator
from pipeline.augment.letterbox import letterbox
from pipeline.categories import CATEGORIES, UPPER_BODY
from pipeline.infer.types import TryOnError
from pipeline.models.repaint import tryon_region
from pipeline.train.data import fit_box
from pipeline.train.inputs import cloth_input, person_input
from pipeline.train.parse_groups import group_onehot
from pipeline.train.pose_maps import heatmaps

_R_SHOULDER, _L_SHOULDER = 2, 5
# MediaPipe misses or misplaces people in small pictures; annotate at least this high.
MIN_ANNOTATE_HEIGHT = 512


@dataclass
class PreparedPair:
    """Model inputs of one pair at the model size, plus what is needed to map results back."""

    person: torch.Tensor  # [41, H, W] agnostic + pose maps + parse-agnostic groups
    cloth: torch.Tensor  # [4, H, W] cloth RGB in [-1, 1] + mask in {0, 1}
    person_rgb: np.ndarray  # the input photo, HxWx3 uint8, its own size
    keep_mask: np.ndarray  # annotate-size bool: the try-on region (the agnostic's grey near the person), where the models draw
    annotate_size: tuple[int, int]  # (height, width)
    category: str = "upper_body"  # the garment category the pair was prepared for
    garment_rgb: np.ndarray | None = None  # the garment picture, HxWx3 uint8, its own size (full-resolution paste)
    garment_mask: np.ndarray | None = None  # 0/255 garment mask, letterboxed at the annotation size


def annotate_size(model_size: tuple[int, int], annotate_height: int | None) -> tuple[int, int]:
    """(height, width) for annotation: the model's aspect, ``annotate_height`` high (default: model height, >= 512)."""
    h, w = model_size
    target = annotate_height or max(h, MIN_ANNOTATE_HEIGHT)
    return target, max(1, round(w * target / h))


def _to_tensor(rgb: np.ndarray, size: tuple[int, int]) -> torch.Tensor:
    img = Image.fromarray(rgb)
    if img.size != (size[1], size[0]):
        img = img.resize((size[1], size[0]), Image.Resampling.BILINEAR)
    # numpy, not torch: on a busy CPU torch's thread pool costs more than this little work
    arr = np.asarray(img, dtype=np.float32).transpose(2, 0, 1) / 127.5 - 1.0
    return torch.from_numpy(np.ascontiguousarray(arr))


# group_onehot of every possible label id: column k is the one-hot group of CIHP id k, so
# indexing it with a label map gives the same tensor as group_onehot, as one fast gather.
_GROUP_TABLE = group_onehot(np.arange(256, dtype=np.int64).reshape(1, 256))[:, 0, :].numpy()


def _parse_groups(labels: np.ndarray) -> torch.Tensor:
    """``group_onehot(labels)`` for a uint8 label map, computed by table lookup."""
    return torch.from_numpy(np.ascontiguousarray(_GROUP_TABLE[:, labels.astype(np.uint8)]))


def _resize_labels(labels: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    img = Image.fromarray(labels.astype(np.uint8))
    return np.asarray(img.resize((size[1], size[0]), Image.Resampling.NEAREST))


class Annotator:
    """Pose, parse, agnostic and cloth mask engines, loaded once. Not thread-safe (MediaPipe graphs)."""

    def __init__(self, pose: dict | None = None, parse: dict | None = None, agnostic: dict | None = None,
                 cloth: dict | None = None, min_shoulder_confidence: float = 0.5, pose_sigma: float = 0.012,
                 check_roles: bool = True) -> None:
        self.pose = PoseEstimator(PoseConfig.from_dict(pose or {}))
        self.parser = build_parser(ParseConfig.from_dict(parse or {}))
        self.agnostic_cfg = AgnosticConfig.from_dict(agnostic or {})
        self.cloth_cfg = ClothMaskConfig.from_dict(cloth or {})
        self.min_shoulder_confidence = min_shoulder_confidence
        self.pose_sigma = pose_sigma
        self.classifier = None
        if check_roles:
            from pipeline.classify import ClassifyConfig, ImageClassifier

            self.classifier = ImageClassifier(ClassifyConfig())

    def close(self) -> None:
        """Release the MediaPipe graphs."""
        self.pose.close()
        self.parser.close()
        if self.classifier is not None:
            self.classifier.close()

    def check_roles(self, person: Image.Image, garment: Image.Image) -> None:
        """``TryOnError`` when the classify stage's judgement says the two pictures were swapped or misplaced.

        Only a confident opposite verdict refuses: a picture the classifier rejects (too small,
        busy background) goes on, and the annotators say what is wrong with it.
        """
        if self.classifier is None:
            return
        from pipeline.classify import GARMENT, PERSON

        if self.classifier.classify(_small(person)).label == GARMENT:
            raise TryOnError("person_image_is_a_garment", "the person image looks like a garment shot (one object on a "
                             "plain background, no person found); send it as garment_image and a photo of a person as "
                             "person_image")
        if self.classifier.classify(_small(garment)).label == PERSON:
            raise TryOnError("garment_image_is_a_person", "the garment image shows a person; send an in-shop shot of "
                             "the garment alone (plain background) as garment_image")

    def garment(self, garment: Image.Image, work: tuple[int, int], size: tuple[int, int]) -> tuple[torch.Tensor, np.ndarray]:
        """(``[4, H, W]`` cloth and mask at the model ``size``, the 0/255 mask at the annotation size);
        raises ``TryOnError(garment_mask_failed)``."""
        rgb = letterbox(np.asarray(garment.convert("RGB")), (work[1], work[0]), "white")
        try:
            mask = cloth_mask(rgb, self.cloth_cfg)
        except ClothMaskError as exc:
            raise TryOnError("garment_mask_failed", f"no garment found on a plain background ({exc.reason}: {exc.detail})") from exc
        small = np.asarray(Image.fromarray(mask).resize((size[1], size[0]), Image.Resampling.BILINEAR))
        m = torch.from_numpy((small >= 128).astype(np.float32)).unsqueeze(0)
        return cloth_input({"cloth": _to_tensor(rgb, size).unsqueeze(0), "cloth_mask": m.unsqueeze(0)})[0], mask

    def person(self, person: Image.Image, work: tuple[int, int], size: tuple[int, int],
               category: str = "upper_body") -> tuple[torch.Tensor, np.ndarray]:
        """(``[41, H, W]`` person representation at ``size``, annotate-size mask of the greyed area).

        Raises ``TryOnError`` with reason ``no_person`` when pose or parse find nobody and
        ``agnostic_failed`` when the agnostic cannot be drawn.
        """
        rgb = letterbox(np.asarray(person.convert("RGB")), (work[1], work[0]), "border")
        pose = self.pose.estimate(rgb)
        if pose is None:
            raise TryOnError("no_person", "no person found in the person image")
        body = np.asarray(pose.body, dtype=np.float64)
        shoulders = float(body[[_R_SHOULDER, _L_SHOULDER], 2].max())
        if shoulders < self.min_shoulder_confidence:
            raise TryOnError("no_person", f"no person found in the person image (shoulder confidence {shoulders:.2f})")
        try:
            labels = np.asarray(self.parser.parse(rgb))
        except NoPersonFound as exc:
            raise TryOnError("no_person", f"the parser found no person in the person image ({exc})") from exc
        except ParseError as exc:
            raise TryOnError("parse_failed", f"human parsing failed: {exc}") from exc
        try:
            agn = make_agnostic(rgb, labels, body, self.agnostic_cfg, category=category)
        except AgnosticError as exc:
            raise TryOnError("agnostic_failed", f"the garment area could not be hidden ({exc.reason}: {exc.detail})") from exc
        scale = size[0] / work[0]
        kps = body.copy()
        kps[:, :2] *= scale
        batch = {
            "agnostic": _to_tensor(agn.image, size).unsqueeze(0),
            "pose": heatmaps(kps, size, sigma=max(self.pose_sigma * size[0], 0.5)).unsqueeze(0),
            "parse_agnostic": _parse_groups(_resize_labels(agn.parse_agnostic, size)).unsqueeze(0),
        }
        # The same region the models were trained to draw in (VitonDataset's agnostic_mask).
        region = tryon_region(torch.from_numpy((agn.mask > 0).astype(np.float32))[None, None],
                              torch.from_numpy((labels > 0).astype(np.float32))[None, None])
        return person_input(batch)[0], region[0, 0].numpy() > 0.5

    def prepare(self, person: Image.Image, garment: Image.Image, size: tuple[int, int],
                annotate_height: int | None = None, category: str | None = None,
                trained: Sequence[str] = (UPPER_BODY,)) -> PreparedPair:
        """Both inputs of one pair at the model ``size`` (height, width).

        ``category`` None takes the garment's from its outline. A category outside ``trained``
        (what the models learnt) raises ``TryOnError(category_not_trained)`` before the person
        is annotated.
        """
        for name, img in (("person", person), ("garment", garment)):
            if min(img.size) < 16:
                raise TryOnError("bad_size", f"the {name} image is {img.size[0]}x{img.size[1]}, too small to try on")
        if category is not None and category not in CATEGORIES:
            raise TryOnError("unknown_category", f"category {category!r} is not one of {list(CATEGORIES)}")
        self.check_roles(person, garment)
        work = annotate_size(size, annotate_height)
        cloth, mask = self.garment(garment, work, size)
        # A model that knows one category takes every garment as that one: the outline rule is
        # a guess, and refusing a top because it looked like a dress would help nobody.
        chosen = category or (trained[0] if len(trained) == 1 else _outline_category(mask))
        if chosen not in trained:
            how = "given" if category else "read from the garment's outline; pass the category to override"
            raise TryOnError("category_not_trained", f"the loaded model was trained for {list(trained)}, not {chosen} "
                             f"({how})")
        rep, keep = self.person(person, work, size, chosen)
        return PreparedPair(rep, cloth, np.asarray(person.convert("RGB")), keep, work, chosen,
                            np.asarray(garment.convert("RGB")), mask)


def _outline_category(mask: np.ndarray) -> str:
    """The category a 0/255 garment mask's outline suggests (classify's silhouette rule)."""
    from pipeline.classify.category import category_from_silhouette

    return category_from_silhouette(mask > 127)[0]


def _small(img: Image.Image, side: int = 512) -> np.ndarray:
    """RGB array at most ``side`` pixels high or wide (the classifier decides at that scale anyway)."""
    rgb = img.convert("RGB")
    if max(rgb.size) > side:
        rgb = rgb.copy()
        rgb.thumbnail((side, side), Image.Resampling.BILINEAR)
    return np.asarray(rgb)


def crop_box(src: tuple[int, int], size: tuple[int, int]) -> tuple[int, int, int, int]:
    """(left, top, right, bottom) of a ``src`` = (w, h) picture inside its letterbox of ``size`` = (h, w)."""
    _, new_w, new_h, left, top = fit_box(src, size)
    return left, top, left + new_w, top + new_h
