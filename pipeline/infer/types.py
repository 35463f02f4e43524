"""What the try-on engine is configured with and what it returns."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from PIL import Image

from pipeline.config_mapping import from_mapping

BACKENDS = ("torch", "onnx")
DETAILS = ("detail", "paste")  # pipeline.infer.fullres.Detail
DEVICES = ("auto", "cpu", "cuda")


@dataclass(frozen=True)
class EngineConfig:
    """How :class:`~pipeline.infer.engine.TryOnEngine` finds and runs its models.

    ``model``: a registered MLflow model URI (``models:/<name>/<version|alias|latest>``, the TOM),
    a model folder or ``model.pt`` file written by the training stages (the TOM's, or a bundle
    folder holding ``gmm/`` and ``tom/``), a folder written by ``vton export-onnx``, or ``""``
    for the workspace's ``data/train_tom/model``, else the ``registered_tom`` version marked
    ``registered_alias`` in the default MLflow store (``vton promote``), else the shipped
    ``shipped_model``. ``gmm_model`` works the same way for the warping module; empty means "next
    to the TOM": the bundle's ``gmm/``, the sibling ``train_gmm/model`` folder, or the registered
    ``registered_gmm`` under the TOM's alias (else its latest version).
    ``size`` = (height, width) the models run at; None reads it from the model's metadata.
    ``annotate_height``: pose/parse/agnostic run on the person letterboxed to this height (None:
    the model height, but at least 512, below which MediaPipe misses people).
    """

    model: str = ""
    gmm_model: str = ""
    backend: str = "torch"
    device: str = "auto"
    size: tuple[int, int] | None = None
    annotate_height: int | None = None
    # The release folder used when there is neither an explicit nor a pipeline model ("": models/viton256).
    shipped_model: str = ""
    registered_tom: str = "vton-tom"
    registered_gmm: str = "vton-gmm"
    registered_alias: str = "champion"  # the registry's version `vton promote` marked
    tracking_uri: str = ""  # empty: the project's store (MLFLOW_TRACKING_URI or ./mlflow.db)
    onnx_dir: str = ""  # where backend=onnx exports torch models it is given (empty: a temporary folder)
    opset: int = 17
    threads: int = 0  # torch / onnxruntime intra-op threads; 0 keeps the library default
    pose_sigma: float = 0.012  # heat-map sigma as a fraction of the height (VitonDataset's default)
    paste_back: bool = True  # keep the input's own pixels outside the garment area (sharper at high resolution)
    # Sample the garment picture at the photo's own resolution through the warp's grid
    # (pipeline.infer.fullres); False upsamples the model-size rendering, the path before it.
    full_resolution: bool = True
    detail: str = "detail"  # how the full-size garment joins the upsampled try-on: detail or paste (fullres.Detail)
    min_shoulder_confidence: float = 0.5  # weaker shoulders = a guessed skeleton, reported as no_person
    check_roles: bool = True  # refuse a garment shot given as the person, or a person photo given as the garment
    pose: dict[str, Any] = field(default_factory=dict)  # PoseConfig overrides
    parse: dict[str, Any] = field(default_factory=dict)  # ParseConfig overrides
    agnostic: dict[str, Any] = field(default_factory=dict)  # AgnosticConfig overrides
    cloth_mask: dict[str, Any] = field(default_factory=dict)  # ClothMaskConfig overrides

    def __post_init__(self) -> None:
        if self.backend not in BACKENDS:
            raise ValueError(f"backend must be one of {BACKENDS}, got {self.backend!r}")
        if self.detail not in DETAILS:
            raise ValueError(f"detail must be one of {DETAILS}, got {self.detail!r}")
        if self.device not in DEVICES:
            raise ValueError(f"device must be one of {DEVICES}, got {self.device!r}")
        if self.size is not None:
            size = tuple(int(v) for v in self.size)
            if len(size) != 2 or min(size) < 16:
                raise ValueError(f"size must be [height, width] of at least 16 pixels, got {self.size!r}")
            object.__setattr__(self, "size", size)
        if self.annotate_height is not None and self.annotate_height < 64:
            raise ValueError(f"annotate_height must be at least 64, got {self.annotate_height}")
        if self.threads < 0 or self.opset < 11:
            raise ValueError("threads must be >= 0 and opset >= 11")

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "EngineConfig":
        """Build from a plain mapping, rejecting unknown keys with a message listing the known ones."""
        return from_mapping(cls, data, "engine")


class TryOnError(Exception):
    """A pair that cannot be tried on; ``reason`` is a slug (no_person, unreadable_image, garment_mask_failed, bad_size, ...)."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(f"{reason}: {message}")
        self.reason = reason
        self.message = message

    def __reduce__(self) -> tuple[Any, ...]:
        return (TryOnError, (self.reason, self.message))


@dataclass
class TryOnResult:
    """One try-on: ``image`` has the person input's size; ``mask`` (L) is where the garment shows on it (the
    TOM's composition mask within the warped garment's outline);
    ``warped`` is the warped garment on white at the same size; ``timings`` in seconds
    (annotate, gmm, tom, compose, total); ``metadata`` names the models, backend and sizes used."""

    image: Image.Image
    mask: Image.Image
    warped: Image.Image
    timings: dict[str, float]
    metadata: dict[str, Any]
