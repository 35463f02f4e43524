"""Try a garment on a person from two raw pictures: annotate, warp (GMM), render (TOM), map back.

Thread safety: :meth:`TryOnEngine.tryon` may be called from several threads at once.
Annotation (MediaPipe graphs, not thread-safe) runs under one lock and the model calls
under another, so two requests overlap one's annotation with the other's GMM/TOM
pass; the models themselves already use every core, so more parallelism would not help.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import torch
from PIL import Image

from pipeline.augment.letterbox import letterbox
from pipeline.categories import UPPER_BODY
from pipeline.infer import fullres
from pipeline.infer.models import LoadedModels, ModelRun, environment, load_models, run_models
from pipeline.infer.prepare import Annotator, PreparedPair, crop_box
from pipeline.infer.types import EngineConfig, TryOnError, TryOnResult
from pipeline.io.images import ImageRejected, load_image
from pipeline.log import get_logger
from pipeline.models.repaint import soft_region

log = get_logger(__name__)

ImageLike = Image.Image | str | Path


def _open(img: ImageLike, what: str) -> Image.Image:
    if isinstance(img, Image.Image):
        try:
            img.load()
            return img.convert("RGB")
        except Exception as exc:  # noqa: BLE001 - any PIL decode failure
            raise TryOnError("unreadable_image", f"the {what} image cannot be decoded ({exc})") from exc
    try:
        return load_image(img)
    except ImageRejected as exc:
        raise TryOnError("unreadable_image", f"the {what} image {img} cannot be used ({exc.reason}: {exc.detail})") from exc
    except OSError as exc:
        raise TryOnError("unreadable_image", f"the {what} image {img} cannot be read ({exc})") from exc


def _map_back(arr: np.ndarray, size_hw: tuple[int, int], out_wh: tuple[int, int], interp: int) -> np.ndarray:
    """Crop the letterbox of an ``out_wh`` picture out of ``arr`` (at ``size_hw``) and resize it to ``out_wh``."""
    left, top, right, bottom = crop_box(out_wh, size_hw)
    return cv2.resize(np.ascontiguousarray(arr[top:bottom, left:right]), out_wh, interpolation=interp)


def annotation_settings(config: EngineConfig, recorded: dict[str, Any] | None) -> dict[str, dict[str, Any]]:
    """The pose, parse, agnostic and cloth-mask settings to annotate with: what the model's training data
    was annotated with (``recorded``, from its meta.json), under the engine's explicit overrides."""
    recorded = recorded or {}
    given = {"pose": config.pose, "parse": config.parse, "agnostic": config.agnostic, "cloth_mask": config.cloth_mask}
    return {k: {**dict(recorded.get(k) or {}), **dict(v)} for k, v in given.items()}


class TryOnEngine:
    """Loaded models plus annotators; build with :meth:`load`. See the module docstring on threads."""

    def __init__(self, config: EngineConfig, models: LoadedModels, annotator: Annotator) -> None:
        self.config = config
        self.models = models
        self.annotator = annotator
        self.size = models.size
        self._annotate_lock = threading.Lock()
        self._model_lock = threading.Lock()

    @classmethod
    def load(cls, config: EngineConfig = EngineConfig()) -> "TryOnEngine":
        """Load models (see :class:`EngineConfig` for sources) and annotators.

        Raises :class:`~pipeline.infer.models.ModelNotFound` (a ``FileNotFoundError``) with one
        sentence on how to get a model when none is found.
        """
        models = load_models(config)
        settings = annotation_settings(config, models.annotation)
        annotator = Annotator(settings["pose"], settings["parse"], settings["agnostic"], settings["cloth_mask"],
                              config.min_shoulder_confidence, config.pose_sigma, config.check_roles)
        models.metadata["annotation"] = ("as recorded with the model" if models.annotation is not None
                                         else "the defaults (the model records no annotation settings)")
        log.info("try-on engine ready", backend=config.backend, size=list(models.size), device=str(models.device), **models.metadata)
        return cls(config, models, annotator)

    def close(self) -> None:
        """Release the annotators' MediaPipe graphs."""
        self.annotator.close()

    def __enter__(self) -> "TryOnEngine":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ------------------------------------------------------------ steps

    @property
    def categories(self) -> tuple[str, ...]:
        """Garment categories the loaded models were trained for (models that record none: upper body)."""
        recorded = self.models.metadata.get("categories")
        return tuple(recorded) if recorded else (UPPER_BODY,)

    def prepare(self, person: ImageLike, garment: ImageLike, category: str | None = None) -> PreparedPair:
        """Annotate one pair into model inputs for ``category`` (None: see :meth:`Annotator.prepare`);
        raises :class:`TryOnError`."""
        p, g = _open(person, "person"), _open(garment, "garment")
        with self._annotate_lock:
            return self.annotator.prepare(p, g, self.size, self.config.annotate_height, category, self.categories)

    def run_models(self, person: torch.Tensor, cloth: torch.Tensor) -> ModelRun:
        """Batched GMM then TOM on model-size inputs (:func:`~pipeline.infer.models.run_models`, under the model lock)."""
        with self._model_lock:
            return run_models(self.models, person, cloth)

    def _full_resolution(self, pair: PreparedPair, run: ModelRun) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
        """(image, warped cloth, garment mask) in the photo's frame at its own scale, or None when the
        models or the pair lack what the full-resolution step needs. The mask is where the garment
        shows: the composition mask within the warped garment's outline."""
        if run.grid is None or run.comp is None or pair.garment_rgb is None or pair.garment_mask is None:
            return None
        h, w = pair.person_rgb.shape[:2]
        frame = fullres.frame_size((w, h), self.size)
        cloth = letterbox(pair.garment_rgb, (frame[1], frame[0]), "white")  # as the model's input was framed
        warped, wmask = fullres.warp_garment(cloth, pair.garment_mask, run.grid)
        image = fullres.compose(fullres.to_uint8(run.output), fullres.to_uint8(run.warped), run.comp[0].numpy(), warped, wmask,
                                fullres.Detail(self.config.detail))
        shows = fullres.garment_weight(run.comp[0].numpy(), wmask)
        return image, np.clip(warped + 0.5, 0, 255).astype(np.uint8), np.clip(shows * 255 + 0.5, 0, 255).astype(np.uint8)

    def finish(self, pair: PreparedPair, run: ModelRun) -> TryOnResult:
        """Map one pair's model outputs (``run.item(k)``) back onto the input photo's size and frame.

        With ``full_resolution`` the garment is sampled from its own picture at the photo's scale
        (:mod:`pipeline.infer.fullres`); otherwise, or for models exported without their grid, the
        model-size rendering is upsampled.
        """
        started = time.perf_counter()
        h, w = pair.person_rgb.shape[:2]
        full = self._full_resolution(pair, run) if self.config.full_resolution else None
        if full is not None:
            frame = full[0].shape[:2]
            image = _map_back(full[0], frame, (w, h), cv2.INTER_AREA)
            warped = _map_back(full[1], frame, (w, h), cv2.INTER_AREA)
            mask = _map_back(full[2], frame, (w, h), cv2.INTER_AREA)
            resolution = "full"
        else:
            image = _map_back(fullres.to_uint8(run.output), self.size, (w, h), cv2.INTER_CUBIC)
            warped = _map_back(fullres.to_uint8(run.warped), self.size, (w, h), cv2.INTER_CUBIC)
            # Where the garment shows: the composition mask within the warped outline (the outline alone
            # for models exported without their composition mask).
            shows = run.mask[0] * (run.comp[0].clamp(0, 1) if run.comp is not None else 1.0)
            mask = _map_back((shows.numpy() * 255 + 0.5).astype(np.uint8), self.size, (w, h), cv2.INTER_LINEAR)
            resolution = "model" if not self.config.full_resolution else "model (the loaded models export no sampling grid)"
        if self.config.paste_back:
            # Repaint, as in training (pipeline.models.repaint): the model draws only the area the
            # agnostic greyed; everywhere else the photo's own pixels stay, at its full resolution.
            # The blend weight is built at the annotation size (cheap) with the training's seam, then upsampled.
            region = torch.from_numpy(pair.keep_mask.astype(np.float32))[None, None]
            alpha_a = (soft_region(region)[0, 0].numpy() * 255).round().astype(np.uint8)
            alpha = _map_back(alpha_a, pair.annotate_size, (w, h), cv2.INTER_LINEAR).astype(np.float32) / 255.0
            image = cv2.blendLinear(image, np.ascontiguousarray(pair.person_rgb), alpha, 1.0 - alpha)
        meta = {"backend": self.config.backend, "size": list(self.size), "input_size": [w, h], "category": pair.category,
                "annotate_size": list(pair.annotate_size), "device": str(self.models.device), "resolution": resolution,
                **self.models.metadata}
        timings = {**run.timings, "compose": time.perf_counter() - started}
        return TryOnResult(Image.fromarray(image), Image.fromarray(mask, mode="L"), Image.fromarray(warped),
                           {k: round(v, 4) for k, v in timings.items()}, meta)

    # ------------------------------------------------------------ public API

    def tryon(self, person: ImageLike, garment: ImageLike, category: str | None = None) -> TryOnResult:
        """Dress ``person`` in ``garment`` (of ``category``; None: the model's, or the garment's outline when
        the model knows several); the result has the person picture's size. Raises :class:`TryOnError`."""
        t0 = time.perf_counter()
        pair = self.prepare(person, garment, category)
        t1 = time.perf_counter()
        run = self.run_models(pair.person.unsqueeze(0), pair.cloth.unsqueeze(0)).item(0)
        result = self.finish(pair, run._replace(timings={"annotate": t1 - t0, **run.timings}))
        result.timings["total"] = round(time.perf_counter() - t0, 4)
        return result

    def tryon_many(self, pairs: Iterable[tuple[ImageLike, ImageLike]], batch_size: int = 4,
                   progress: Any = None, category: str | None = None) -> list[TryOnResult | TryOnError]:
        """Try on every ``(person, garment)``, running the models ``batch_size`` pairs at a time.

        Returns one entry per pair in order: a :class:`TryOnResult`, or the :class:`TryOnError`
        that pair raised (other pairs go on). ``progress`` (e.g. a tqdm bar) gets ``update(1)`` per pair.
        Timings of batched steps are the batch's time divided by its size.
        """
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        pairs = list(pairs)
        results: list[TryOnResult | TryOnError | None] = [None] * len(pairs)
        pending: list[tuple[int, PreparedPair, float, float]] = []

        def flush() -> None:
            if not pending:
                return
            try:
                run = self.run_models(torch.stack([p.person for _, p, _, _ in pending]),
                                      torch.stack([p.cloth for _, p, _, _ in pending]))
            except Exception as exc:  # noqa: BLE001 - e.g. out of memory: fail this batch, keep going
                log.error("model batch failed", size=len(pending), detail=str(exc)[:300])
                for i, _, _, _ in pending:
                    results[i] = TryOnError("model_failed", f"the models failed on this batch ({exc})")
                    if progress is not None:
                        progress.update(1)
                pending.clear()
                return
            n = len(pending)
            for k, (i, pair, started, annotate_s) in enumerate(pending):
                one = run.item(k, share=n)
                res = self.finish(pair, one._replace(timings={"annotate": annotate_s, **one.timings}))
                res.timings["total"] = round(annotate_s + sum(run.timings.values()) / n + res.timings["compose"], 4)
                results[i] = res
                if progress is not None:
                    progress.update(1)
            pending.clear()

        for i, (person, garment) in enumerate(pairs):
            t0 = time.perf_counter()
            try:
                pair = self.prepare(person, garment, category)
            except TryOnError as exc:
                results[i] = exc
                if progress is not None:
                    progress.update(1)
                continue
            pending.append((i, pair, t0, time.perf_counter() - t0))
            if len(pending) >= batch_size:
                flush()
        flush()
        return [r if r is not None else TryOnError("internal", "no result") for r in results]

    def info(self) -> dict[str, Any]:
        """Backend, size, device and model sources (for logs and API health checks)."""
        return {"backend": self.config.backend, "size": list(self.size), "device": str(self.models.device),
                **self.models.metadata, **environment()}

