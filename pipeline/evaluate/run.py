"""Evaluate the trained try-on models on the test pairs of a VITON-HD-layout data set.

Paired (each person with their own garment, the warp stage's warped cloth as TOM input):
SSIM, PSNR and LPIPS on the whole picture and inside the garment region (the worn garment's
labels in the parse map). Unpaired (each person with the next pair's garment, warped by the
GMM here): FID and KID against the real test photos. Two baselines go through exactly the
same metrics, so every number has a reference: the agnostic image itself, the warped
cloth pasted on it, and the try-on region filled flat with the garment's mean colour (cheap and
strong: a model that cannot beat it has learned nothing about the garment). The model's output
is repainted into the photo (:mod:`pipeline.models.repaint`) exactly as inference does. The
warped mask's IoU with the worn garment's parse labels scores the GMM alone.
"""

from __future__ import annotations

import csv
import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image
from torch import Tensor
from torch.utils.data import DataLoader
from tqdm import tqdm

from pipeline.evaluate.config import EvaluateConfig
from pipeline.evaluate.paired import PAIRED_METRICS, mean_or_none, paired_metrics
from pipeline.evaluate.reference_nets import load_inception, load_lpips
from pipeline.infer.fullres import upsampled_tryon
from pipeline.infer.models import LoadedModels, load_models, run_models
from pipeline.infer.types import EngineConfig
from pipeline.evaluate.intervals import bootstrap_ci
from pipeline.experiment_metrics import evaluate_headline, write_headline
from pipeline.io.atomic import atomic_dir, atomic_file, write_json
from pipeline.log import get_logger
from pipeline.models.repaint import repaint
from pipeline.packaged_weights import entry
from pipeline.train.data import VitonDataset
from pipeline.train.inputs import cloth_input, person_input

log = get_logger(__name__)

SYSTEMS = ("model", "agnostic", "warped_paste", "mean_colour")


@dataclass(frozen=True)
class EvaluateOutputs:
    """Where the stage writes: the summary JSON, the per-pair CSV and the sample grids folder."""

    metrics_json: Path = Path("metrics/evaluate.json")
    pairs_csv: Path = Path("metrics/evaluate_pairs.csv")
    samples_dir: Path = Path("metrics/evaluate_samples")
    headline_json: Path = Path("metrics/headline/evaluate.json")  # the experiment-table figures


@dataclass
class _Unpaired:
    """FID/KID accumulators per system (None when the Inception network is missing)."""

    fid: dict[str, Any] = field(default_factory=dict)
    kid: dict[str, Any] = field(default_factory=dict)


def _uint8(x: Tensor) -> Tensor:
    return ((x.float().clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8)


def _grid(columns: list[Tensor]) -> Image.Image:
    """One row of ``[3, H, W]`` images in [-1, 1] side by side, 4 white pixels apart."""
    arrs = [_uint8(c).permute(1, 2, 0).cpu().numpy() for c in columns]
    h = arrs[0].shape[0]
    gap = np.full((h, 4, 3), 255, np.uint8)
    row = [a if k == 0 else np.concatenate([gap, a], 1) for k, a in enumerate(arrs)]
    return Image.fromarray(np.concatenate(row, axis=1))


def _models(cfg: EvaluateConfig) -> LoadedModels:
    """The models at the size they were trained at, or at ``cfg.size`` when they record none or it is larger."""
    models = load_models(EngineConfig(model=cfg.model, gmm_model=cfg.gmm_model, device=cfg.device))
    if not upsampling(cfg, models):
        models.size = tuple(cfg.size)  # type: ignore[assignment]
    return models


def upsampling(cfg: EvaluateConfig, models: LoadedModels) -> bool:
    """Whether the scoring size is above the model's, so the try-on goes through :mod:`pipeline.infer.fullres`
    (the garment sampled at the scoring size) as inference does, instead of the model running at a size it never saw."""
    return cfg.size[0] > models.size[0] and cfg.size[1] > models.size[1]


@torch.no_grad()
def _full_size_outputs(models: LoadedModels, low: dict[str, Any], big: dict[str, Any]) -> tuple[Tensor, Tensor, Tensor]:
    """(try-on, warped cloth, warped mask) at the scoring size: GMM and TOM on ``low`` (the batch at the
    model's size), the garment of ``big`` (the same pairs at the scoring size) sampled through the grid."""
    run = run_models(models, person_input(low), cloth_input(low))
    if run.grid is None or run.comp is None:
        raise ValueError("the models were exported without the warp's sampling grid or the composition mask, so they "
                         "cannot be scored above their own size; set evaluate.size to the model's size or retrain them")
    return upsampled_tryon(run.output, run.warped, run.comp, run.grid, big["cloth"], big["cloth_mask"])


@torch.no_grad()
def _tom(models: LoadedModels, person: Tensor, wcloth: Tensor, wmask: Tensor) -> Tensor:
    x = torch.cat([person, wcloth, wmask], dim=1).to(models.device)
    return models.tom(x)[:, :3].float().cpu()  # the image; the composition mask follows it


def mean_colour_fill(person: Tensor, region: Tensor, cloth: Tensor, cloth_mask: Tensor) -> Tensor:
    """``person`` with ``region`` painted flat in the garment's mean colour (over its mask)."""
    area = cloth_mask.sum(dim=(2, 3)).clamp_min(1.0)
    mean = (cloth * cloth_mask).sum(dim=(2, 3)) / area  # [B, 3]
    return person * (1 - region) + mean[:, :, None, None] * region


def mask_iou(pred: Tensor, target: Tensor) -> list[float | None]:
    """IoU per image of two {0, 1} masks ``[B, 1, H, W]``; None where both are empty."""
    p, t = pred > 0.5, target > 0.5
    inter = (p & t).sum(dim=(1, 2, 3)).float()
    union = (p | t).sum(dim=(1, 2, 3)).float()
    return [float(i / u) if u > 0 else None for i, u in zip(inter, union)]


def systems_for(batch: dict[str, Any], model_out: Tensor, wcloth: Tensor, wmask: Tensor) -> dict[str, Tensor]:
    """Each system's try-on image of a paired batch: the repainted model output and the three baselines."""
    agnostic, region = batch["agnostic"], batch["agnostic_mask"]
    return {
        "model": repaint(batch["image"], model_out, region),
        "agnostic": agnostic,
        "warped_paste": agnostic * (1 - wmask) + wcloth * wmask,
        "mean_colour": mean_colour_fill(batch["image"], region, batch["cloth"], batch["cloth_mask"]),
    }


class _Precomputed(torch.nn.Module):
    """Hands torchmetrics' FID/KID features already extracted, so each image meets the Inception once."""

    num_features = 2048

    def forward(self, features: Tensor) -> Tensor:
        return features


def _unpaired_batch(ds: VitonDataset, idx: list[int]) -> dict[str, Any]:
    """Persons ``idx`` of ``ds``, each with the next pair's garment (mod n)."""
    n = len(ds)
    people = [ds[i] for i in idx]
    cloths = [ds[(i + 1) % n] for i in idx]
    batch = {k: torch.stack([p[k] for p in people]) for k in ("image", "agnostic", "pose", "parse_agnostic", "agnostic_mask")}
    batch["cloth"] = torch.stack([c["cloth"] for c in cloths])
    batch["cloth_mask"] = torch.stack([c["cloth_mask"] for c in cloths])
    return batch


@torch.no_grad()
def _unpaired_pass(ds: VitonDataset, models: LoadedModels, cfg: EvaluateConfig, inception: Any,
                   low_ds: VitonDataset | None = None) -> tuple[dict[str, Any], int]:
    """FID and KID per system on person i + garment i+1 (mod n); returns (values, pairs used). With ``low_ds``
    (the same pairs at the model's size) the models run there and the try-on is brought up to ``ds``'s size.

    The real photos' features are extracted once and shared by every system's FID and KID
    (torchmetrics would otherwise run the Inception on them once per metric and system).
    """
    from torchmetrics.image.fid import FrechetInceptionDistance
    from torchmetrics.image.kid import KernelInceptionDistance

    n = len(ds)
    subset = min(cfg.kid_subset_size, n)
    given = _Precomputed()
    fids = {s: FrechetInceptionDistance(feature=given, normalize=False) for s in SYSTEMS}
    kids = {s: KernelInceptionDistance(feature=given, subset_size=subset, normalize=False) for s in SYSTEMS}
    for start in tqdm(range(0, n, cfg.batch_size), desc="evaluate unpaired"):
        idx = list(range(start, min(start + cfg.batch_size, n)))
        batch = _unpaired_batch(ds, idx)
        if low_ds is not None:
            out, wcloth, wmask = _full_size_outputs(models, _unpaired_batch(low_ds, idx), batch)
        else:
            run = run_models(models, person_input(batch), cloth_input(batch))
            out, wcloth, wmask = run.output, run.warped, run.mask
        outputs = systems_for(batch, out, wcloth, wmask)
        real = inception(_uint8(batch["image"]).to(models.device)).double().cpu()
        for s in SYSTEMS:
            fake = inception(_uint8(outputs[s]).to(models.device)).double().cpu()
            for metric in (fids[s], kids[s]):
                metric.update(real, real=True)
                metric.update(fake, real=False)
    values: dict[str, Any] = {}
    for s in SYSTEMS:
        kid_mean, kid_std = kids[s].compute()
        values[s] = {"fid": round(float(fids[s].compute()), 6), "kid": round(float(kid_mean), 6), "kid_std": round(float(kid_std), 6)}
    return values, n


def _registered_versions(cfg: EvaluateConfig, models: LoadedModels) -> dict[str, str]:
    """Registered model versions that are the models evaluated: named by URI, or matched by params hash."""
    found = {}
    for kind in ("gmm", "tom"):
        src = str(models.metadata.get(kind, ""))
        if src.startswith("models:/"):
            name, _, version = src[len("models:/"):].partition("/")
            found[name] = version
    if found:
        return found
    hashes = set()
    for kind in ("gmm", "tom"):
        meta = Path(str(models.metadata.get(kind, ""))) / "meta.json"
        if meta.is_file():
            h = json.loads(meta.read_text(encoding="utf-8")).get("params_hash")
            if h:
                hashes.add(h)
    if not hashes:
        return {}
    from pipeline.infer.models import mlflow_client

    client = mlflow_client()
    if client is None:
        return {}
    for name in cfg.registered_models:
        try:
            versions = client.search_model_versions(f"name = '{name}'")
        except Exception:  # noqa: BLE001 - registry unavailable: nothing to tag
            continue
        for v in sorted(versions, key=lambda v: -int(v.version)):
            try:
                tags = client.get_run(v.run_id).data.tags if v.run_id else {}
            except Exception:  # noqa: BLE001 - a deleted run
                continue
            if tags.get("params_hash") in hashes:
                found[name] = str(v.version)
                break
    return found


def per_category(rows: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Pairs, warped-mask IoU and every system's paired means, per garment category of the per-pair rows."""
    out: dict[str, dict[str, Any]] = {}
    for category in sorted({r["category"] for r in rows}):
        mine = [r for r in rows if r["category"] == category]
        block: dict[str, Any] = {"pairs": len(mine), "warped_mask_iou": mean_or_none([r["warped_mask_iou"] for r in mine])}
        for s in SYSTEMS:
            block[s] = {m: mean_or_none([r[f"{s}_{m}"] for r in mine]) for m in PAIRED_METRICS}
        out[category] = block
    return out


def protocol(cfg: EvaluateConfig, pairs: int, fid_images: int, model_size: tuple[int, int] | None = None) -> dict[str, Any]:
    """How the figures were measured, stated beside them so they can be set against published tables."""
    model_size = tuple(model_size or cfg.size)
    return {
        "resolution": f"{cfg.size[0]}x{cfg.size[1]}",
        "model_resolution": f"{model_size[0]}x{model_size[1]}",
        # Above the model's size the garment is sampled at the scoring size (pipeline.infer.fullres).
        "full_resolution_path": model_size != tuple(cfg.size),
        "repaint": True,  # the model's output keeps the photo's pixels outside the try-on region
        "paired_images": pairs,
        "lpips_net": cfg.lpips_net,
        "lpips_weights": cfg.lpips_weights or f"{entry('lpips-alex').distribution} (LPIPS v0.1)",
        "fid_images": fid_images,
        "fid_setting": "unpaired: person i with garment i+1, against the real test photos",
        "inception_weights": cfg.inception_weights or f"{entry('fid-inception').distribution} (FID Inception 2015-12-05)",
        "kid_subset_size": min(cfg.kid_subset_size, fid_images) if fid_images else None,
        "note": "FID is biased upwards on a few hundred images; compare it only within one table and read KID beside it",
    }


def evaluate(cfg: EvaluateConfig, outputs: EvaluateOutputs = EvaluateOutputs()) -> dict[str, Any]:
    """Run the evaluation and write the JSON summary, per-pair CSV and sample grids; returns the summary."""
    started = time.perf_counter()
    models = _models(cfg)
    upsample = upsampling(cfg, models)
    # Above the model's size the GMM runs here (its grid samples the full-size garment), so the warp
    # stage's files, written at the model's size, are not read; the same pairs at the model's size are.
    ds = VitonDataset(cfg.dataset, cfg.split, size=cfg.size, pose_format=cfg.pose_format,
                      warped_root=None if upsample else cfg.warped, limit=cfg.limit)
    low_ds = VitonDataset(cfg.dataset, cfg.split, size=models.size, pose_format=cfg.pose_format, limit=cfg.limit) if upsample else None
    lpips, lpips_reason = load_lpips(cfg.lpips_net, cfg.lpips_weights)
    inception, inception_reason = load_inception(cfg.inception_weights)
    if lpips is not None:
        lpips = lpips.to(models.device)
    rows: list[dict[str, Any]] = []
    per_system: dict[str, dict[str, list[float | None]]] = {s: {m: [] for m in PAIRED_METRICS} for s in SYSTEMS}
    ious: list[float | None] = []
    grids: list[tuple[str, Image.Image]] = []
    loader = DataLoader(ds, batch_size=cfg.batch_size, shuffle=False)
    low_batches = iter(DataLoader(low_ds, batch_size=cfg.batch_size, shuffle=False)) if low_ds is not None else None
    for batch in tqdm(loader, desc="evaluate paired"):
        if low_batches is not None:
            out, wcloth, wmask = _full_size_outputs(models, next(low_batches), batch)
        else:
            wcloth, wmask = batch["warped_cloth"], batch["warped_mask"]
            out = _tom(models, person_input(batch), wcloth, wmask)
        systems = systems_for(batch, out, wcloth, wmask)
        scores = {s: paired_metrics(pred, batch["image"], batch["worn_mask"], lpips) for s, pred in systems.items()}
        batch_iou = mask_iou(wmask, batch["worn_mask"])
        for k, name in enumerate(batch["name"]):
            row: dict[str, Any] = {"name": name, "cloth_name": batch["cloth_name"][k], "category": batch["category"][k],
                                   "warped_mask_iou": None if batch_iou[k] is None else round(batch_iou[k], 6)}
            ious.append(batch_iou[k])
            for s in SYSTEMS:
                for m in PAIRED_METRICS:
                    value = scores[s][m][k]
                    per_system[s][m].append(value)
                    row[f"{s}_{m}"] = None if value is None else round(float(value), 6)
            rows.append(row)
            if len(grids) < cfg.num_samples:
                grids.append((Path(name).stem, _grid([batch["agnostic"][k], batch["cloth"][k], wcloth[k],
                                                      systems["model"][k], batch["image"][k]])))

    unavailable: dict[str, str] = {}
    if lpips_reason:
        unavailable["lpips"] = unavailable["garment_lpips"] = lpips_reason
    unpaired: dict[str, Any] = {}
    fid_images = 0
    if inception is None:
        unavailable["fid"] = unavailable["kid"] = str(inception_reason)
    elif len(ds) < 2:
        unavailable["fid"] = unavailable["kid"] = f"FID/KID need at least 2 test pairs, the split has {len(ds)}"
    else:
        unpaired, fid_images = _unpaired_pass(ds, models, cfg, inception.to(models.device), low_ds)

    summary: dict[str, Any] = {"pairs": len(rows), "split": cfg.split, "size": list(cfg.size),
                               "warped_mask_iou": mean_or_none(ious), "warped_mask_iou_ci95": bootstrap_ci(ious),
                               "protocol": protocol(cfg, len(rows), fid_images, models.size)}
    for s in SYSTEMS:
        block = {m: mean_or_none(per_system[s][m]) for m in PAIRED_METRICS}
        # 95 % bootstrap interval of each paired mean over the test pairs (pipeline.evaluate.intervals).
        block["ci95"] = {m: bootstrap_ci(per_system[s][m]) for m in PAIRED_METRICS}
        block.update(unpaired.get(s, {"fid": None, "kid": None, "kid_std": None}))
        if s == "model":
            summary["model"] = block
        else:
            summary.setdefault("baselines", {})[s] = block
    summary["per_category"] = per_category(rows)
    summary["unavailable"] = unavailable
    summary["models"] = {k: v for k, v in models.metadata.items()}
    summary["registered_versions"] = _registered_versions(cfg, models)
    summary["skipped"] = dict(ds.skipped)
    summary["seconds"] = round(time.perf_counter() - started, 3)

    write_json(outputs.metrics_json, summary)
    write_headline(outputs.headline_json, evaluate_headline(summary))
    with atomic_file(outputs.pairs_csv, "w") as fh:
        fields = ["name", "cloth_name", "category", "warped_mask_iou"] + [f"{s}_{m}" for s in SYSTEMS for m in PAIRED_METRICS]
        writer = csv.DictWriter(fh, fieldnames=fields, lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
    with atomic_dir(outputs.samples_dir) as tmp:
        for stem, img in grids:
            img.save(tmp / f"{stem}.png")
    log.info("evaluation written", pairs=len(rows), json=outputs.metrics_json,
             **{f"model_{m}": summary["model"][m] for m in ("ssim", "psnr", "lpips", "fid")})
    return summary


def flat_metrics(summary: dict[str, Any]) -> dict[str, float]:
    """Numeric metrics of a summary as ``<system>_<metric>`` (MLflow keys); nulls left out."""
    out: dict[str, float] = {}
    if isinstance(summary.get("warped_mask_iou"), (int, float)):
        out["warped_mask_iou"] = float(summary["warped_mask_iou"])
    blocks = {"model": summary.get("model", {}), **summary.get("baselines", {})}
    for system, block in blocks.items():
        for key, value in block.items():
            if isinstance(value, (int, float)) and value is not None:
                out[f"{system}_{key}"] = float(value)
    return out
