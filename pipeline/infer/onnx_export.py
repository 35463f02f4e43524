"""Export the GMM and TOM (their single-tensor wrappers) to ONNX and check them with onnxruntime.

The folder written holds ``gmm.onnx``, ``tom.onnx`` and ``engine.json`` (size, opset, sources,
the measured torch/onnxruntime difference); ``TryOnEngine`` with ``backend="onnx"`` runs it.
Height and width are fixed at export (the GMM's grid resize and the TOM's skip resizes are
traced with the export size); the batch axis is dynamic.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from pipeline.io.atomic import atomic_dir
from pipeline.log import get_logger
from pipeline.train.inputs import PERSON_CHANNELS

if TYPE_CHECKING:
    from pipeline.infer.models import LoadedModels

log = get_logger(__name__)

GMM_IN = PERSON_CHANNELS + 4
TOM_IN = PERSON_CHANNELS + 4
DEFAULT_TOLERANCE = 1e-3


class ParityError(RuntimeError):
    """onnxruntime's output differs from torch's by more than the tolerance."""


def _example(channels: int, size: tuple[int, int], seed: int) -> torch.Tensor:
    """A plausible input: images in [-1, 1], masks/maps in [0, 1] (random values in both ranges)."""
    g = torch.Generator().manual_seed(seed)
    x = torch.rand(2, channels, *size, generator=g)
    x[:, :3] = x[:, :3] * 2 - 1  # agnostic RGB
    x[:, PERSON_CHANNELS:PERSON_CHANNELS + 3] = x[:, PERSON_CHANNELS:PERSON_CHANNELS + 3] * 2 - 1  # cloth RGB
    x[:, PERSON_CHANNELS + 3] = (x[:, PERSON_CHANNELS + 3] > 0.5).float()
    return x


def _is_exported(module: Any) -> bool:
    """A ``torch.export`` module (registered models load as one): fixed in eval form, refuses ``train()``/``eval()``."""
    return type(module).__module__.startswith("torch.export") or type(module).__name__ == "GraphModule"


def _export_one(module: Any, example: torch.Tensor, path: Path, opset: int) -> None:
    with torch.no_grad():
        # The TorchScript-based exporter: it keeps the batch axis symbolic with dynamic_axes and
        # needs no extra packages (the dynamo exporter wants onnxscript).
        torch.onnx.export(
            module, (example,), str(path), input_names=["x"], output_names=["y"], opset_version=opset,
            dynamic_axes={"x": {0: "batch"}, "y": {0: "batch"}}, dynamo=False,
        )


def max_abs_diff(module: Any, onnx_path: Path, x: torch.Tensor) -> float:
    """Largest absolute difference between ``module(x)`` and the ONNX model on ``x`` (CPU, float32)."""
    import onnxruntime as ort

    sess = ort.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
    with torch.no_grad():
        ref = module(x).detach().cpu().numpy()
    got = sess.run(None, {sess.get_inputs()[0].name: x.numpy()})[0]
    if got.shape != ref.shape:
        raise ParityError(f"{onnx_path.name}: onnxruntime output shape {got.shape} != torch {ref.shape}")
    return float(np.abs(got - ref).max())


def export_onnx(models: "LoadedModels", target: str | Path, opset: int = 17, tolerance: float = DEFAULT_TOLERANCE) -> dict[str, Any]:
    """Write ``target/{gmm,tom}.onnx`` + ``engine.json`` for ``models`` at ``models.size``; returns the manifest.

    Each model is checked with ``onnx.checker`` and run with onnxruntime on a batch of 3
    (not the export batch of 2, which proves the batch axis is free); a difference above
    ``tolerance`` raises :class:`ParityError` and leaves ``target`` untouched.
    """
    import onnx

    size = tuple(models.size)
    target = Path(target)
    manifest: dict[str, Any] = {"size": list(size), "opset": opset, "tolerance": tolerance,
                                "tom": models.metadata.get("tom", ""), "gmm": models.metadata.get("gmm", ""), "max_abs_diff": {}}
    if models.metadata.get("categories"):
        manifest["categories"] = list(models.metadata["categories"])
    if models.annotation is not None:
        manifest["annotation"] = models.annotation  # the exported folder annotates as the model was trained
    with atomic_dir(target) as tmp:
        for name, module, channels in (("gmm", models.warp, GMM_IN), ("tom", models.tom, TOM_IN)):
            if _is_exported(module):
                raise ValueError(f"the {name} is a torch.export module without its config (its training run has no "
                                 "model_folder/meta.json), which ONNX export cannot keep batch-free; export from the "
                                 "model folder instead (--model data/train_tom/model) or use backend torch")
            if isinstance(module, torch.nn.Module):
                module = module.cpu().eval()
            path = tmp / f"{name}.onnx"
            _export_one(module, _example(channels, size, 0), path, opset)
            onnx.checker.check_model(str(path))
            check = torch.cat([_example(channels, size, 1), _example(channels, size, 2)[:1]])
            diff = max_abs_diff(module, path, check)
            manifest["max_abs_diff"][name] = diff
            log.info("onnx exported", model=name, path=target / path.name, max_abs_diff=f"{diff:.2e}")
            if not diff <= tolerance:
                raise ParityError(f"{name}.onnx differs from torch by {diff:.2e} > {tolerance:.0e}; not written")
        (tmp / "engine.json").write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
    if models.device.type != "cpu":
        for module in (models.warp, models.tom):
            if isinstance(module, torch.nn.Module):
                module.to(models.device)
    return manifest
