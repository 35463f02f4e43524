"""Find the GMM and TOM an engine should run and load them behind one calling convention.

Every backend exposes the two single-tensor functions of :mod:`pipeline.train.export`
(the form models are logged to MLflow and exported to ONNX in):

* ``warp(x)``: ``[B, 41 + 4, H, W]`` person representation, cloth, cloth mask -> ``[B, 6, H, W]``
  warped cloth and mask, then the sampling grid (4 channels from models exported before the grid);
* ``tom(x)``: ``[B, 41 + 3 + 1, H, W]`` person representation, warped cloth, warped mask ->
  ``[B, 4, H, W]`` try-on image in [-1, 1], then the composition mask (3 channels from older exports).
"""

from __future__ import annotations

import json
import os
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, NamedTuple

import numpy as np
import torch

from pipeline.infer.types import EngineConfig
from pipeline.log import get_logger

log = get_logger(__name__)

ONNX_MANIFEST = "engine.json"
GMM_ONNX, TOM_ONNX = "gmm.onnx", "tom.onnx"
DEFAULT_TOM_DIR = Path("data/train_tom/model")
DEFAULT_SIZE = (256, 192)
_HOW_TO_GET = "train one with `dvc repro train_tom` or pass --model PATH (a model folder or models:/<name>/<version>)"


class ModelNotFound(FileNotFoundError):
    """No usable model at the given source; the message says how to get one."""


Fn = Callable[[torch.Tensor], torch.Tensor]


@dataclass
class LoadedModels:
    """The two model functions, the size they run at, and where they came from."""

    warp: Fn
    tom: Fn
    size: tuple[int, int]
    device: torch.device
    metadata: dict[str, Any] = field(default_factory=dict)
    # The annotation settings the TOM's training data was made with (its meta.json), None when it records none.
    annotation: dict[str, Any] | None = None


class ModelRun(NamedTuple):
    """What the GMM and TOM gave for a batch (or, from :meth:`item`, one pair): tensors at the model size, on the CPU."""

    output: torch.Tensor  # [B, 3, H, W] try-on image in [-1, 1]
    warped: torch.Tensor  # [B, 3, H, W] warped cloth in [-1, 1]
    mask: torch.Tensor  # [B, 1, H, W] warped mask in {0, 1}
    grid: torch.Tensor | None  # [B, 2, H, W] the warp's sampling grid; None from models exported without it
    comp: torch.Tensor | None  # [B, 1, H, W] the TOM's composition mask; None from models exported without it
    timings: dict[str, float]  # seconds per step for the whole batch

    def item(self, k: int, share: int = 1) -> "ModelRun":
        """Pair ``k`` of the batch, with the batch's timings divided by ``share``."""
        pick = lambda t: None if t is None else t[k]  # noqa: E731
        return ModelRun(self.output[k], self.warped[k], self.mask[k], pick(self.grid), pick(self.comp),
                        {s: v / share for s, v in self.timings.items()})


@torch.no_grad()
def run_models(models: LoadedModels, person: torch.Tensor, cloth: torch.Tensor) -> ModelRun:
    """GMM then TOM on a batch of model-size inputs (person representation, cloth and its mask).

    The output channels are split as :mod:`pipeline.train.export` lays them out; models registered
    before the grid and the composition mask were exported give 4 and 3 channels, and None for those.
    """
    from pipeline.train.export import TOM_CHANNELS, WARP_CHANNELS

    person, cloth = person.to(models.device), cloth.to(models.device)
    t0 = time.perf_counter()
    warped = models.warp(torch.cat([person, cloth], dim=1)).to(models.device)
    t1 = time.perf_counter()
    # The warp stage thresholds the warped mask the same way for the TOM's training data.
    wcloth, wmask = warped[:, :3], (warped[:, 3:4] > 0.5).float()
    out = models.tom(torch.cat([person, wcloth, wmask], dim=1))
    t2 = time.perf_counter()
    grid = warped[:, 4:6].float().cpu() if warped.shape[1] >= WARP_CHANNELS else None
    comp = out[:, 3:4].float().cpu() if out.shape[1] >= TOM_CHANNELS else None
    return ModelRun(out[:, :3].float().cpu(), wcloth.float().cpu(), wmask.cpu(), grid, comp, {"gmm": t1 - t0, "tom": t2 - t1})


def pick_device(name: str) -> torch.device:
    """``auto`` = CUDA when available, else CPU; ``cuda`` without a GPU is an error."""
    if name == "cuda" and not torch.cuda.is_available():
        raise ValueError("device=cuda but no CUDA GPU is available; use device auto or cpu")
    return torch.device("cuda" if name in ("auto", "cuda") and torch.cuda.is_available() else "cpu")


# ---------------------------------------------------------------- sources


def _size_from_meta(folder: Path) -> tuple[int, int] | None:
    """The size a model folder records (meta.json ``size``), else the one its training stage's metrics
    file records (``<repo>/metrics/train_tom.json`` ``image_size`` for ``<repo>/data/train_tom/model``)."""
    folder = folder.resolve()
    candidates = [folder / "meta.json", folder / ONNX_MANIFEST]
    if len(folder.parents) > 2:
        candidates.append(folder.parents[2] / "metrics" / f"{folder.parent.name}.json")
    for path in candidates:
        if path.is_file():
            try:
                meta = json.loads(path.read_text(encoding="utf-8"))
            except (OSError, ValueError):
                continue
            for key in ("size", "image_size"):
                value = meta.get(key)
                if isinstance(value, list) and len(value) == 2:
                    return int(value[0]), int(value[1])
    return None


def _torch_folders(model: str, gmm_model: str) -> tuple[Path, Path] | None:
    """(gmm folder, tom folder) for a filesystem source, or None when ``model`` is not a path."""
    path = Path(model)
    if path.is_file():
        path = path.parent
    if not path.is_dir():
        return None
    if (path / "tom" / "model.pt").is_file():
        from pipeline.shipped_model import verify

        verify(path)  # a release folder's SHA256SUMS, when it has one
        tom = path / "tom"
        gmm = Path(gmm_model) if gmm_model else path / "gmm"
    elif (path / "model.pt").is_file():
        tom = path
        # data/train_tom/model -> data/train_gmm/model
        gmm = Path(gmm_model) if gmm_model else path.parent.parent / "train_gmm" / path.name
    else:
        raise ModelNotFound(f"{path} holds no model.pt (nor tom/model.pt); {_HOW_TO_GET}")
    if Path(gmm).is_file():
        gmm = Path(gmm).parent
    if not (gmm / "model.pt").is_file():
        raise ModelNotFound(f"no GMM next to the TOM at {tom} (looked for {gmm / 'model.pt'}); run `dvc repro train_gmm` or pass --gmm-model PATH")
    return gmm, tom


def _load_torch_folders(gmm_dir: Path, tom_dir: Path, device: torch.device) -> tuple[Fn, Fn, dict[str, Any], dict[str, Any] | None]:
    """(GMM, TOM, metadata with the recorded categories, the recorded annotation settings)."""
    from pipeline.train.export import GMMExport, TOMExport
    from pipeline.train.model_io import load_model

    gmm = GMMExport(load_model(gmm_dir, "gmm", device)).eval()  # type: ignore[arg-type]
    tom = TOMExport(load_model(tom_dir, "tom", device)).eval()  # type: ignore[arg-type]
    categories, annotation = _recorded(tom_dir / "meta.json")
    if annotation is not None:
        from pipeline.dataset.annotation_record import resolve_model_paths

        # A release folder names its parser and refiner relative to itself (models/viton256/parser).
        annotation = resolve_model_paths(annotation, tom_dir.parent)
    return gmm, tom, {"tom": str(tom_dir), "gmm": str(gmm_dir), **categories}, annotation


def _recorded(meta_path: Path) -> tuple[dict[str, Any], dict[str, Any] | None]:
    """What the training stage recorded in ``meta.json``: ``{"categories": [...]}`` ({} when none) and the
    annotation settings (None when none), read in one pass."""
    from pipeline.dataset.annotation_record import valid_record

    try:
        meta = json.loads(meta_path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}, None
    if not isinstance(meta, dict):
        return {}, None
    categories = meta.get("categories")
    found = {"categories": [str(c) for c in categories]} if isinstance(categories, list) and categories else {}
    return found, valid_record(meta.get("annotation"))


def mlflow_client(tracking_uri: str = "") -> Any | None:
    """An MLflow client on ``tracking_uri`` (empty: the project's store), or None when that SQLite store does not exist yet."""
    from pipeline.tracking.mlflow_run import tracking_uri as default_uri

    uri = tracking_uri or default_uri()
    if uri.startswith("sqlite:///") and not Path(uri[len("sqlite:///"):]).is_file():
        return None  # opening it would create an empty store
    from mlflow.tracking import MlflowClient

    return MlflowClient(uri, registry_uri=uri)


def resolve_version(client: Any, uri: str) -> Any:
    """The ModelVersion a ``models:/name/version|alias|latest`` URI points to."""
    rest = uri[len("models:/"):]
    name, _, ref = rest.partition("/")
    if not name:
        raise ModelNotFound(f"{uri} is not a models:/<name>/<version> URI")
    from mlflow.exceptions import MlflowException

    try:
        if ref in ("", "latest"):
            versions = client.search_model_versions(f"name = '{name}'")
            if not versions:
                raise ModelNotFound(f"no version of registered model {name!r} in the MLflow store; {_HOW_TO_GET}")
            return max(versions, key=lambda v: int(v.version))
        if ref.isdigit():
            return client.get_model_version(name, ref)
        return client.get_model_version_by_alias(name, ref)
    except MlflowException as exc:
        raise ModelNotFound(f"{uri} is not in the MLflow store ({str(exc).splitlines()[0]}); {_HOW_TO_GET}") from exc


def _run_size(client: Any, run_id: str) -> tuple[int, int] | None:
    try:
        value = client.get_run(run_id).data.params.get("size")
        size = json.loads(value) if value else None
    except Exception:  # noqa: BLE001 - a missing run or odd param just means "unknown"
        return None
    return (int(size[0]), int(size[1])) if isinstance(size, list) and len(size) == 2 else None


def _eager_twin(client: Any, run_id: str | None, kind: str, exported: Any, device: torch.device) -> Any:
    """The registered ``torch.export`` module rebuilt as the plain wrapper module when the run kept the
    model's config (``model_folder/meta.json``, logged by the training stages); else the exported module.

    The plain module behaves like one loaded from a folder (eval mode, device moves, ONNX export with a
    free batch axis); a ``torch.export`` module traced again for ONNX would freeze its batch size.
    """
    from pipeline.models import GMM, TOM, GMMConfig, TOMConfig
    from pipeline.train.export import GMMExport, TOMExport

    if not run_id:
        return exported
    try:
        local = client.download_artifacts(run_id, "model_folder/meta.json", tempfile.mkdtemp(prefix="vton-meta-"))
        meta = json.loads(Path(local).read_text(encoding="utf-8"))
        if kind == "gmm":
            wrapper: torch.nn.Module = GMMExport(GMM(GMMConfig.from_dict(meta["config"])))
        else:
            wrapper = TOMExport(TOM(TOMConfig.from_dict(meta["config"])))
        wrapper.load_state_dict(exported.state_dict())
        return wrapper.to(device).eval()
    except Exception as exc:  # noqa: BLE001 - no meta, other architecture: keep the exported module
        log.info("registered model kept in its torch.export form", kind=kind, run_id=run_id, detail=str(exc)[:200])
        return exported


def _has_alias(client: Any, name: str, alias: str) -> bool:
    """Whether registered model ``name`` has a version marked ``alias``."""
    from mlflow.exceptions import MlflowException

    try:
        client.get_model_version_by_alias(name, alias)
        return True
    except MlflowException:
        return False


def _load_registered(cfg: EngineConfig, client: Any, tom_uri: str, device: torch.device) -> LoadedModels:
    import mlflow.pytorch

    tom_v = resolve_version(client, tom_uri)
    # The GMM that goes with it: the same alias when the TOM was named by one (vton promote marks both).
    ref = tom_uri.rsplit("/", 1)[-1]
    gmm_ref = ref if ref and not ref.isdigit() and ref != "latest" and _has_alias(client, cfg.registered_gmm, ref) else "latest"
    gmm_uri = cfg.gmm_model or f"models:/{cfg.registered_gmm}/{gmm_ref}"
    if not gmm_uri.startswith("models:/"):
        raise ModelNotFound(f"a registered TOM needs a registered GMM (gmm_model={gmm_uri!r} is not a models:/ URI)")
    gmm_v = resolve_version(client, gmm_uri)
    loaded = {}
    for kind, v in (("tom", tom_v), ("gmm", gmm_v)):
        # The download URI is a plain artifact location: loading needs no global tracking state.
        exported = mlflow.pytorch.load_model(client.get_model_version_download_uri(v.name, v.version), map_location=device)
        loaded[kind] = _eager_twin(client, v.run_id, kind, exported, device)
    try:
        local = client.download_artifacts(tom_v.run_id, "model_folder/meta.json", tempfile.mkdtemp(prefix="vton-meta-"))
        categories, annotation = _recorded(Path(local))
    except Exception:  # noqa: BLE001 - a run without the file: the default category and annotation
        categories, annotation = {}, None
    size = cfg.size or _run_size(client, tom_v.run_id) or DEFAULT_SIZE
    meta = {"tom": f"models:/{tom_v.name}/{tom_v.version}", "gmm": f"models:/{gmm_v.name}/{gmm_v.version}",
            "tom_run_id": tom_v.run_id, "gmm_run_id": gmm_v.run_id, **categories}
    return LoadedModels(loaded["gmm"], loaded["tom"], size, device, meta, annotation)


# ---------------------------------------------------------------- ONNX


class OnnxFn:
    """An onnxruntime session called like a torch module (tensor in, tensor out)."""

    def __init__(self, path: Path, threads: int = 0) -> None:
        import onnxruntime as ort

        opts = ort.SessionOptions()
        if threads:
            opts.intra_op_num_threads = threads
        providers = [p for p in ("CUDAExecutionProvider", "CPUExecutionProvider") if p in ort.get_available_providers()]
        self.session = ort.InferenceSession(str(path), opts, providers=providers)
        self.input = self.session.get_inputs()[0].name

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        out = self.session.run(None, {self.input: np.ascontiguousarray(x.detach().cpu().numpy(), dtype=np.float32)})[0]
        return torch.from_numpy(out)


def _load_onnx_folder(folder: Path, cfg: EngineConfig) -> LoadedModels:
    manifest = json.loads((folder / ONNX_MANIFEST).read_text(encoding="utf-8"))
    size = cfg.size or tuple(manifest["size"])
    if tuple(manifest["size"]) != tuple(size):
        raise ValueError(f"the ONNX models in {folder} were exported at {manifest['size']}, not {list(size)}; re-export with --size")
    from pipeline.dataset.annotation_record import valid_record

    meta = {"onnx": str(folder), **{k: v for k, v in manifest.items() if k in ("tom", "gmm", "opset", "categories")}}
    return LoadedModels(OnnxFn(folder / GMM_ONNX, cfg.threads), OnnxFn(folder / TOM_ONNX, cfg.threads),
                        (int(size[0]), int(size[1])), torch.device("cpu"), meta, valid_record(manifest.get("annotation")))


# ---------------------------------------------------------------- entry point


def load_models(cfg: EngineConfig) -> LoadedModels:
    """Resolve ``cfg.model`` (see :class:`EngineConfig`) and load both modules for ``cfg.backend``.

    Raises :class:`ModelNotFound` with one sentence on how to get a model when there is none.
    """
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    source = cfg.model
    if source and Path(source).is_dir() and (Path(source) / ONNX_MANIFEST).is_file():
        if cfg.backend != "onnx":
            raise ValueError(f"{source} holds ONNX models; use backend onnx (--backend onnx)")
        exported = _load_onnx_folder(Path(source), cfg)
        exported.metadata.update(model_source="explicit", model=source)
        return exported
    device = pick_device(cfg.device) if cfg.backend == "torch" else torch.device("cpu")
    models: LoadedModels | None = None
    # Which model answers, in order: the one asked for; the workspace's own (the outputs DVC tracks
    # in this checkout); the registry's version the user marked (alias ``champion``: never simply the
    # newest, which may be a queued experiment's); the one shipped with the project.
    chosen, described = "explicit", source
    if source.startswith("models:/") or not source:
        client = mlflow_client(cfg.tracking_uri)
        if source:
            if client is None:
                raise ModelNotFound(f"{source}: there is no MLflow store yet; {_HOW_TO_GET}")
            models = _load_registered(cfg, client, source, device)
        elif (DEFAULT_TOM_DIR / "model.pt").is_file():
            chosen, source = "pipeline", str(DEFAULT_TOM_DIR)
        elif client is not None and _has_alias(client, cfg.registered_tom, cfg.registered_alias):
            chosen = "registered"
            models = _load_registered(cfg, client, f"models:/{cfg.registered_tom}/{cfg.registered_alias}", device)
        else:
            from pipeline.shipped_model import find_shipped

            shipped = find_shipped(cfg.shipped_model or None)
            if shipped is None:
                raise ModelNotFound(f"no try-on model found (no {DEFAULT_TOM_DIR}, no registered {cfg.registered_tom!r} marked "
                                    f"{cfg.registered_alias!r}, no shipped model in {cfg.shipped_model or 'models/viton256'}); {_HOW_TO_GET}")
            chosen, source, described = "shipped", str(shipped.root), shipped.describe()
    if models is None:
        folders = _torch_folders(source, cfg.gmm_model)
        if folders is None:
            raise ModelNotFound(f"model {source!r} does not exist (no such folder or file, and not a models:/ URI); {_HOW_TO_GET}")
        gmm, tom, meta, annotation = _load_torch_folders(*folders, device)
        size = cfg.size or _size_from_meta(folders[1])
        if size is None:
            log.warning("model folder does not record its size, using the default", folder=folders[1], size=DEFAULT_SIZE)
            size = DEFAULT_SIZE
        models = LoadedModels(gmm, tom, size, device, meta, annotation)
    models.metadata["model_source"] = chosen
    models.metadata["model"] = described or models.metadata.get("tom", "")
    if cfg.backend == "onnx":
        from pipeline.infer.onnx_export import export_onnx

        target = Path(cfg.onnx_dir) if cfg.onnx_dir else Path(tempfile.mkdtemp(prefix="vton-onnx-"))
        export_onnx(models, target, opset=cfg.opset)
        onnx_models = _load_onnx_folder(target, cfg)
        onnx_models.metadata.update(models.metadata)
        onnx_models.annotation = models.annotation
        return onnx_models
    return models


def environment() -> dict[str, Any]:
    """Library versions worth recording next to results."""
    return {"torch": torch.__version__, "threads": torch.get_num_threads(), "pid": os.getpid()}
