"""Package trained models as the release folder the project ships (``models/viton256``): compact weights, checksums, a card.

The inputs are the training stages' own model folders. The GMM and TOM weights are stored in fp16
(half the bytes; the card records what that costs on the held-out figures), the parser and the
pose refiner as the ONNX graphs they are served from. The TOM's recorded annotation is rewritten
to serve with the shipped parser and refiner: the models learned from a data set's own parse and
pose, and those two networks were trained to reproduce exactly those labels, so they annotate a
new photo the way the training data was annotated. The folder is written atomically.
"""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from pipeline.io.atomic import atomic_dir
from pipeline.log import get_logger
from pipeline.shipped_model import CARD, CHECKSUMS, GMM, LICENCE, PARSER, POSE_REFINER, TOM, write_checksums

log = get_logger(__name__)

LICENCE_TEXT = """\
These weights (every file in this folder) were trained on the VITON data set (Han et al., CVPR 2018), whose
terms allow research use only. They are released for research and evaluation, not for commercial use, and
the licence of the Vesaki-VTON code does not extend to them. Anyone using them accepts VITON's terms.
"""


@dataclass(frozen=True)
class ReleaseSources:
    """The training stages' model folders that make a release (parser and refiner optional)."""

    gmm: Path
    tom: Path
    parser: Path | None = None
    pose_refiner: Path | None = None


@dataclass
class ReleaseFacts:
    """What the card says beyond the files: how the models were made and how they score."""

    name: str
    data: str  # the training data, in words
    command: str  # the one command that reproduces the folder
    commit: str
    machine: str
    seconds: dict[str, float]  # per stage
    evaluation: dict[str, Any]  # the evaluate stage's summary of the shipped (fp16) models
    evaluation_fp32: dict[str, Any] | None = None  # the same with the training's fp32 weights
    notes: list[str] = field(default_factory=list)
    packaged_at: str = ""  # the commit whose code packaged the folder, when not the training one


def _half_model(src: Path, dst: Path) -> None:
    """``model.pt`` with floating tensors in fp16 (``load_state_dict`` copies them back into fp32 parameters)."""
    saved = torch.load(src / "model.pt", map_location="cpu", weights_only=True)
    saved["state_dict"] = {k: v.half() if v.is_floating_point() else v for k, v in saved["state_dict"].items()}
    dst.mkdir(parents=True)
    torch.save(saved, dst / "model.pt")


def serving_annotation(recorded: dict[str, Any] | None, with_parser: bool, with_refiner: bool) -> dict[str, Any] | None:
    """The TOM's annotation record for serving: the shipped parser and refiner (named relative to the release folder)."""
    if recorded is None:
        return None
    out = {k: dict(v) if isinstance(v, dict) else v for k, v in recorded.items()}
    if with_parser:
        out["parse"].update(backend="learned", learned_model=PARSER)
    if with_refiner:
        out["pose"].update(refiner_model=POSE_REFINER, hem_pull_down=0.0)  # the refiner learned from unpulled hips
    if with_parser or with_refiner:
        parts = " and ".join(n for n, on in (("parser", with_parser), ("pose refiner", with_refiner)) if on)
        out["labels"] = f"{recorded.get('labels', 'the data set’s own labels')}; served with the shipped {parts}, trained to reproduce those labels"
    return out


def _copy_model(src: Path, dst: Path, meta_update: dict[str, Any]) -> None:
    _half_model(src, dst)
    meta = json.loads((src / "meta.json").read_text(encoding="utf-8"))
    meta.update(meta_update, weights="fp16")
    (dst / "meta.json").write_text(json.dumps(meta, indent=2, sort_keys=True) + "\n", encoding="utf-8")


def package_release(sources: ReleaseSources, target: Path) -> dict[str, str]:
    """Write the release folder (everything but the card); returns ``{file: sha256}``."""
    for kind, folder in (("gmm", sources.gmm), ("tom", sources.tom)):
        if not (folder / "model.pt").is_file():
            raise FileNotFoundError(f"no {kind} model in {folder} (model.pt expected)")
    with atomic_dir(target) as tmp:
        tom_meta = json.loads((sources.tom / "meta.json").read_text(encoding="utf-8"))
        annotation = serving_annotation(tom_meta.get("annotation"), sources.parser is not None, sources.pose_refiner is not None)
        _copy_model(sources.gmm, tmp / GMM, {})
        _copy_model(sources.tom, tmp / TOM, {"annotation": annotation})
        for part, folder, graph in ((PARSER, sources.parser, "parser.onnx"), (POSE_REFINER, sources.pose_refiner, "refiner.onnx")):
            if folder is None:
                continue
            (tmp / part).mkdir()
            # The ONNX graph is what serves; the torch weights beside it are for training and stay out.
            for name in (graph, "meta.json"):
                shutil.copy2(folder / name, tmp / part / name)
        (tmp / LICENCE).write_text(LICENCE_TEXT, encoding="utf-8")
        sums = write_checksums(tmp)
    log.info("release packaged", target=str(target), files=len(sums))
    return sums


def _row(name: str, block: dict[str, Any], keys: tuple[str, ...]) -> str:
    cells = [f"{block[k]:.4f}" if isinstance(block.get(k), (int, float)) else "n/a" for k in keys]
    return f"| {name} | " + " | ".join(cells) + " |"


def write_card(target: Path, facts: ReleaseFacts) -> Path:
    """Write ``target/MODEL_CARD.md`` from ``facts`` and the folder's checksums."""
    from pipeline.shipped_model import read_checksums

    ev = facts.evaluation
    keys = ("ssim", "psnr", "garment_ssim", "garment_psnr", "lpips", "garment_lpips", "fid", "kid")
    head = "| system | " + " | ".join(keys) + " |\n|" + "---|" * (len(keys) + 1)
    rows = [_row("model (shipped fp16 weights)", ev["model"], keys)]
    if facts.evaluation_fp32 is not None:
        rows.append(_row("model (training's fp32 weights)", facts.evaluation_fp32["model"], keys))
    rows += [_row(name, block, keys) for name, block in ev.get("baselines", {}).items()]
    tom_meta = json.loads((target / TOM / "meta.json").read_text(encoding="utf-8"))
    gmm_meta = json.loads((target / GMM / "meta.json").read_text(encoding="utf-8"))
    sums = read_checksums(target)
    files = "\n".join(f"| `{n}` | {(target / n).stat().st_size:,} | `{d}` |" for n, d in sums.items())
    total = sum((target / n).stat().st_size for n in sums)
    seconds = ", ".join(f"{k} {v / 60:.1f} min" for k, v in facts.seconds.items())
    protocol = ", ".join(f"{k} {v}" for k, v in (ev.get("protocol") or {}).items())
    parts = [f"`{GMM}/` geometric matching (config {json.dumps(gmm_meta['config'], sort_keys=True)})",
             f"`{TOM}/` try-on module (config {json.dumps(tom_meta['config'], sort_keys=True)})"]
    if (target / PARSER).is_dir():
        parts.append(f"`{PARSER}/` the learned parser (ONNX), used by `vton annotate` and to serve these models")
    if (target / POSE_REFINER).is_dir():
        parts.append(f"`{POSE_REFINER}/` the pose refiner (ONNX): elbows, wrists and hips moved to where VITON's OpenPose puts them")
    text = f"""# Model card: {facts.name}

The try-on model set that ships with Vesaki-VTON. `vton tryon`, `vton serve` (API and web page) and
`vton annotate` use it when they are given no model and the pipeline has none of its own
(the model named, then the workspace's trained model, then the registered version marked
`champion`, then this one). The demo's
`train_gmm` and `train_tom` start from it (`init_from`).

**Licence: research use only.** {LICENCE_TEXT.strip()} (`{LICENCE}`)

## What it is
{chr(10).join('- ' + p for p in parts)}

Categories: {', '.join(tom_meta.get('categories') or ['upper_body'])}. Size: {tom_meta.get('size')} (height, width); the
inference engine samples the garment at the photo's own resolution through the GMM's grid
(docs/inference.md, "Full resolution"). Weights of the GMM and TOM are stored in fp16 and loaded
into fp32; the two rows below measure what that costs.

## Data
{facts.data}

## How it was made
- Command (from a fresh clone plus the data set; about two hours on the machine below):

      {facts.command}

- Code commit: `{facts.commit}`{f" (packaged at `{facts.packaged_at}`)" if facts.packaged_at and facts.packaged_at != facts.commit else ""}
- Machine: {facts.machine}
- Time per stage: {seconds}
- Annotation when serving: {tom_meta.get('annotation', {}).get('labels') if tom_meta.get('annotation') else 'the defaults'}

## Figures on viton256 `val` (never used for training or for choosing an epoch)
{head}
{chr(10).join(rows)}

Warped-mask IoU against the worn garment: {ev.get('warped_mask_iou')}. Pairs: {ev.get('pairs')} ({ev.get('split')}).
Protocol: {protocol}.

{chr(10).join('- ' + n for n in facts.notes)}

## Files ({total / 2**20:.1f} MiB)
SHA-256 of every file; `{CHECKSUMS}` holds the same list (`sha256sum -c {CHECKSUMS}` in this folder),
and the project checks it before loading anything from here.

| file | bytes | SHA-256 |
|---|---|---|
{files}
"""
    path = target / CARD
    path.write_text(text, encoding="utf-8")
    return path
