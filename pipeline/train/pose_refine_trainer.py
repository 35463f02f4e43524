"""Train the keypoint refiner on a data set's own poses and export it for ``pose.refiner_model``.

Our pose estimator runs over the data set's pictures (cached in ``checkpoints/our_poses.npz``,
since it is the slow part); each refined joint it finds becomes one crop whose target is the
offset, in our torso lengths, to the data set's joint. The best epoch by PCK of the refined
joints on ``val_split`` is exported to ONNX (``refiner.onnx``, checked against torch) with a
``meta.json`` holding the network's config, which is all :class:`PoseRefiner` needs.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch
import torch.nn.functional as F
from tqdm import tqdm

from pipeline.annotate.parallel import ItemResult, run_items
from pipeline.annotate.pose import PoseConfig
from pipeline.annotate.pose_refiner import META_FILE, MODEL_FILE
from pipeline.dataset.annotation_record import reference_labels
from pipeline.dataset.layout import IMAGE, POSE_JSON, file_path
from pipeline.io.atomic import atomic_dir, write_json
from pipeline.io.images import list_pictures
from pipeline.log import get_logger
from pipeline.annotate.joint_crops import MIRROR, KeypointRefinerConfig, crop_torso, joint_crops_many
from pipeline.models.keypoint_refiner import KeypointRefinerNet, crops_tensor
from pipeline.tracking.mlflow_run import stage_run
from pipeline.train.data import validation_split
from pipeline.train.history import write_history
from pipeline.train.loop import files_fingerprint, seed_everything
from pipeline.train.pose_maps import PoseFileError, read_openpose
from pipeline.train.pose_refine_config import PoseRefineTrainConfig
from pipeline.train.stage_runner import StagePaths

log = get_logger(__name__)

STAGE = "train_pose_refine"
WEIGHTS_NAME = "refiner.pt"
ONNX_TOLERANCE = 1e-4
POSE_CACHE = "our_poses.npz"


@dataclass(frozen=True)
class OurPoseJob:
    """Picklable job factory: our pose estimator's BODY_25 body for each picture path (``info['body']``)."""

    config: PoseConfig

    def __call__(self) -> Callable[[str], ItemResult]:
        from PIL import Image

        from pipeline.annotate.pose import PoseEstimator

        estimator = PoseEstimator(self.config)

        def run(path: str) -> ItemResult:
            with Image.open(path) as img:
                rgb = np.asarray(img.convert("RGB"))
            result = estimator.estimate(rgb)
            if result is None:
                return ItemResult.skipped(path, "no_person", "our pose estimator found nobody")
            return ItemResult(path, ok=True, info={"body": np.asarray(result.body).tolist()})

        return run


def our_poses(pictures: list[Path], pose: PoseConfig, workers: int, cache: Path) -> dict[str, np.ndarray]:
    """Our BODY_25 pose of each picture (by stem), from ``cache`` when it was made for the same pictures and pose settings."""
    pose = dataclasses.replace(pose, refiner_model="")  # the refiner learns from the unrefined estimate
    key = hashlib.sha256(json.dumps([dataclasses.asdict(pose), files_fingerprint(pictures)], default=str).encode()).hexdigest()[:16]
    if cache.is_file():
        with np.load(cache) as saved:
            if str(saved["key"]) == key:
                return dict(zip(saved["stems"].tolist(), saved["bodies"]))
    found: dict[str, np.ndarray] = {}
    skipped = 0
    for res in run_items([str(p) for p in pictures], OurPoseJob(pose), workers=workers, desc=f"{STAGE} our pose"):
        if res.ok:
            found[Path(res.name).stem] = np.asarray(res.info["body"], np.float64)
        else:
            skipped += 1
    log.info("our poses", pictures=len(pictures), found=len(found), skipped=skipped)
    cache.parent.mkdir(parents=True, exist_ok=True)
    stems = sorted(found)
    tmp = cache.with_suffix(".tmp.npz")
    np.savez(tmp, key=key, stems=np.array(stems, dtype=str), bodies=np.array([found[s] for s in stems]).reshape(-1, 25, 3))
    tmp.replace(cache)
    return found


@dataclass
class CropSet:
    """Crops around our joints, with the offset to the reference in our torso lengths."""

    crops: np.ndarray  # [N, P, P, C] uint8
    joint: np.ndarray  # [N] index into the config's joints
    target: np.ndarray  # [N, 2] float32
    ref_scale: np.ndarray  # [N] our torso / the reference's, to score in the reference's torso lengths
    skipped: dict[str, int]

    def __len__(self) -> int:
        return len(self.joint)


def build_crops(split_root: Path, cfg: KeypointRefinerConfig, ours: dict[str, np.ndarray], limit: int | None) -> CropSet:
    """One crop per refined joint that both our pose and the data set's pose have."""
    from PIL import Image

    crops, joints, targets, scales = [], [], [], []
    skipped: dict[str, int] = {}
    index = {j: i for i, j in enumerate(cfg.joints)}
    pictures = list_pictures(split_root / IMAGE)[:limit]
    for path in tqdm(pictures, desc=f"{STAGE} crops {split_root.name}", unit="img"):
        body = ours.get(path.stem)
        try:
            ref = read_openpose(file_path(split_root, POSE_JSON, path.stem))  # as the GMM and TOM read it
        except PoseFileError:
            ref = None
        reason = "no_our_pose" if body is None else "no_reference_pose" if ref is None else None
        t_ours = None if body is None else crop_torso(body)
        t_ref = None if ref is None else crop_torso(ref)
        if reason is None and (t_ours is None or t_ref is None):
            reason = "no_torso"
        if reason is not None:
            skipped[reason] = skipped.get(reason, 0) + 1
            continue
        with Image.open(path) as img:
            rgb = np.asarray(img.convert("RGB"))
        both = [j for j in cfg.joints if body[j, 2] > 0 and ref[j, 2] > 0]
        if not both:
            continue
        crops.extend(joint_crops_many(rgb, body[both, :2], t_ours, cfg))
        for j in both:
            joints.append(index[j])
            targets.append((ref[j, :2] - body[j, :2]) / t_ours)
            scales.append(t_ours / t_ref)
    p, c = cfg.patch, cfg.in_channels
    return CropSet(
        np.array(crops, np.uint8).reshape(-1, p, p, c), np.array(joints, np.int64),
        np.array(targets, np.float32).reshape(-1, 2), np.array(scales, np.float32), skipped,
    )


@torch.no_grad()
def predict(model: KeypointRefinerNet, data: CropSet, batch: int = 256) -> np.ndarray:
    """The model's offset for each crop's own joint, ``[N, 2]``."""
    model.eval()
    out = []
    for i in range(0, len(data), batch):
        pred = model(crops_tensor(data.crops[i : i + batch]))
        out.append(pred[torch.arange(pred.shape[0]), torch.from_numpy(data.joint[i : i + batch])].numpy())
    return np.concatenate(out) if out else np.zeros((0, 2), np.float32)


def pck_scores(data: CropSet, offsets: np.ndarray, joints: tuple[int, ...], threshold: float) -> dict[str, float]:
    """PCK of the refined joints before (``pck_ours``) and after (``pck_refined``) the offsets, overall and per joint,
    and the median distance left (``error_refined``), all in the reference's torso lengths."""
    scale = data.ref_scale[:, None]
    before = np.linalg.norm(data.target * scale, axis=1) <= threshold
    after = np.linalg.norm((data.target - offsets) * scale, axis=1) <= threshold
    err = np.linalg.norm((data.target - offsets) * scale, axis=1)
    scores = {"pck_ours": float(before.mean()) if len(data) else 0.0, "pck_refined": float(after.mean()) if len(data) else 0.0,
              "error_refined": float(np.median(err)) if len(data) else 0.0}
    for i, j in enumerate(joints):
        sel = data.joint == i
        if sel.any():
            scores[f"pck_refined_j{j}"] = float(after[sel].mean())
            scores[f"pck_ours_j{j}"] = float(before[sel].mean())
    return scores


def export_refiner(model: KeypointRefinerNet, folder: Path, meta: dict[str, Any]) -> dict[str, Any]:
    """Write ``refiner.onnx``, ``refiner.pt`` and ``meta.json`` into ``folder`` atomically; the ONNX graph is checked against torch."""
    import onnxruntime as ort

    cfg = model.cfg
    model = model.eval().cpu()
    shape = (cfg.in_channels, cfg.patch, cfg.patch)
    with atomic_dir(folder) as tmp:
        with torch.no_grad():
            torch.onnx.export(model, (torch.rand(2, *shape) * 2 - 1,), str(tmp / MODEL_FILE), input_names=["crops"],
                              output_names=["offsets"], opset_version=17,
                              dynamic_axes={"crops": {0: "batch"}, "offsets": {0: "batch"}}, dynamo=False)
            check = torch.rand(3, *shape) * 2 - 1
            ref = model(check).numpy()
        session = ort.InferenceSession(str(tmp / MODEL_FILE), providers=["CPUExecutionProvider"])
        diff = float(np.abs(session.run(None, {"crops": check.numpy()})[0] - ref).max())
        if not diff <= ONNX_TOLERANCE:
            raise RuntimeError(f"exported pose refiner differs from torch by {diff:.2e} (> {ONNX_TOLERANCE})")
        refiner = {"joints": list(cfg.joints), "patch": cfg.patch, "scales": list(cfg.scales), "widths": list(cfg.widths)}
        torch.save({"state_dict": model.state_dict(), "refiner": refiner}, tmp / WEIGHTS_NAME)
        full = {**meta, "refiner": refiner, "onnx_max_abs_diff": diff}
        write_json(tmp / META_FILE, full)
    log.info("pose refiner exported", folder=folder, onnx_max_abs_diff=diff)
    return full


def _batch(data: CropSet, idx: np.ndarray, mirror_index: np.ndarray, rng: np.random.Generator, jitter: float) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Crops of ``idx``, half of them mirrored (left and right joints swap, x offsets flip), with colour jitter."""
    crops = data.crops[idx].copy()
    joint = data.joint[idx].copy()
    target = data.target[idx].copy()
    flip = rng.random(len(idx)) < 0.5
    crops[flip] = crops[flip][:, :, ::-1]
    joint[flip] = mirror_index[joint[flip]]
    target[flip, 0] *= -1
    x = crops_tensor(crops)
    if jitter:
        gain = 1 + jitter * (torch.rand(len(idx), 1, 1, 1) - 0.5)
        shift = jitter * (torch.rand(len(idx), 3, 1, 1) - 0.5)
        x = x * gain + shift.repeat(1, x.shape[1] // 3, 1, 1)
    return x, torch.from_numpy(joint), torch.from_numpy(target)


def train_pose_refiner(cfg: PoseRefineTrainConfig, pose: PoseConfig, paths: StagePaths) -> dict[str, Any]:
    """Estimate our poses, train, export the best epoch by the refined joints' PCK on ``val_split``, write metrics."""
    started = time.perf_counter()
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    seed_everything(cfg.seed, torch.device("cpu"))
    rng = np.random.default_rng(cfg.seed)
    root = Path(cfg.dataset)
    val_split = validation_split(root, cfg.val_split, cfg.train_split)
    net_cfg = cfg.refiner
    pictures = [p for split, limit in ((cfg.train_split, cfg.limit_train), (val_split, cfg.limit_val))
                for p in list_pictures(root / split / IMAGE)[:limit]]
    ours = our_poses(sorted(set(pictures)), pose, cfg.workers, paths.checkpoints / POSE_CACHE)
    train = build_crops(root / cfg.train_split, net_cfg, ours, cfg.limit_train)
    val = build_crops(root / val_split, net_cfg, ours, cfg.limit_val)
    if len(train) < cfg.batch_size or len(val) == 0:
        raise ValueError(f"{root}: too few joints to learn from (train {len(train)} crops, {val_split} {len(val)}); "
                         "the data set needs its own poses in openpose_json and people our estimator finds")
    mirror_index = np.array([net_cfg.joints.index(MIRROR.get(j, j)) for j in net_cfg.joints])

    model = KeypointRefinerNet(net_cfg)
    steps = cfg.epochs * (len(train) // cfg.batch_size)
    opt = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=cfg.lr, total_steps=steps)
    start = pck_scores(val, np.zeros_like(val.target), net_cfg.joints, cfg.pck_threshold)
    # Best by PCK, ties by the median distance left: once every joint is within the threshold,
    # PCK alone would keep the first epoch that got there.
    best: dict[str, Any] = {"epoch": 0, "key": (start["pck_refined"], -start["error_refined"]),
                            "state": {k: v.clone() for k, v in model.state_dict().items()}}
    history: list[dict[str, float]] = []
    params = {k: str(v) for k, v in cfg.to_dict().items()}
    params_hash = hashlib.sha256(json.dumps(params, sort_keys=True).encode()).hexdigest()[:12]
    with stage_run(STAGE, cfg.mlflow_experiment, params, params_hash, enabled=bool(cfg.mlflow_experiment)) as run:
        run.set_tags({"train_crops": str(len(train)), "val_crops": str(len(val)), "val_split": val_split})
        for epoch in range(cfg.epochs):
            t0 = time.perf_counter()
            model.train()
            perm = rng.permutation(len(train))
            loss_sum, n = 0.0, len(train) // cfg.batch_size
            for b in tqdm(range(n), desc=f"{STAGE} epoch {epoch + 1}", leave=False):
                x, joint, target = _batch(train, perm[b * cfg.batch_size : (b + 1) * cfg.batch_size], mirror_index, rng, cfg.jitter)
                pred = model(x)[torch.arange(len(joint)), joint]
                # Huber with a small knee: robust to the few references OpenPose got wrong.
                loss = F.smooth_l1_loss(pred, target, beta=0.05)
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
                sched.step()
                loss_sum += float(loss.detach())
            scores = pck_scores(val, predict(model, val), net_cfg.joints, cfg.pck_threshold)
            row = {"epoch": epoch + 1, "train_loss": loss_sum / max(n, 1), "val_pck_ours": scores["pck_ours"],
                   "val_pck_refined": scores["pck_refined"], "val_error_refined": scores["error_refined"],
                   "seconds": time.perf_counter() - t0}
            history.append(row)
            key = (scores["pck_refined"], -scores["error_refined"])
            if key > best["key"]:
                best = {"epoch": epoch + 1, "key": key, "state": {k: v.clone() for k, v in model.state_dict().items()}}
            write_history(paths.history_csv, history)
            run.log_metrics({k: v for k, v in row.items() if k != "epoch"}, step=epoch + 1)
            log.info("epoch done", stage=STAGE, **{k: round(v, 4) for k, v in row.items()})
        model.load_state_dict(best["state"])
        final = pck_scores(val, predict(model, val), net_cfg.joints, cfg.pck_threshold)
        meta = {"best_epoch": best["epoch"], "dataset": cfg.dataset, "val_split": val_split, **{f"val_{k}": v for k, v in final.items()}}
        meta = export_refiner(model, paths.model, meta)
        metrics = {
            **{f"val_{k}": round(v, 6) for k, v in final.items()},
            "best_epoch": best["epoch"],
            "epochs": cfg.epochs,
            "train_crops": len(train),
            "val_crops": len(val),
            "val_split": val_split,
            "pictures_without_our_pose": len(pictures) - len(ours),
            "skipped": {"train": train.skipped, "val": val.skipped},
            "onnx_max_abs_diff": meta["onnx_max_abs_diff"],
            "seconds": round(time.perf_counter() - started, 3),
            # What PCK is measured against (the demo: the project's own poses, which the crops were
            # cut around, so PCK 1.0 there says nothing about accuracy).
            "reference_labels": reference_labels(cfg.dataset)[0],
            "reference_is_own_annotation": reference_labels(cfg.dataset)[1],
        }
        write_json(paths.metrics_json, metrics)
        run.log_artifact(paths.model / MODEL_FILE, "pose_refiner")
        log.info("stage finished", stage=STAGE, best_epoch=best["epoch"], val_pck_refined=round(final["pck_refined"], 4),
                 val_pck_ours=round(final["pck_ours"], 4))
        return metrics
