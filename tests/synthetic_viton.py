"""Write a tiny, valid try-on data set in the VITON-HD layout (as HR-VITON releases it) for tests.

Each sample is a cartoon person (head, torso in a coloured shirt, arms, legs)
with a matching CIHP parse map, BODY_25 OpenPose JSON, in-shop cloth and mask,
and the agnostic image/parse with the shirt removed, so training code sees the
same folders and file formats as on the real data.
"""

from __future__ import annotations

import json
import random
import shutil
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

# A few CIHP colours are enough for a valid palette PNG; the rest stay black.
_PALETTE = [0, 0, 0, 128, 0, 0, 255, 0, 0, 0, 85, 0, 170, 0, 51, 255, 85, 0, 0, 0, 85, 0, 119, 221,
            85, 85, 0, 0, 85, 85, 85, 51, 0, 52, 86, 128, 0, 128, 0, 0, 0, 255, 51, 170, 221, 0, 255, 255,
            85, 255, 170, 170, 255, 85, 255, 255, 0, 255, 170, 0] + [0] * (256 - 20) * 3


def _palette_png(labels: np.ndarray, path: Path) -> None:
    img = Image.fromarray(labels.astype(np.uint8), mode="P")
    img.putpalette(_PALETTE)
    img.save(path)


def _sample(rng: random.Random, width: int, height: int) -> dict[str, object]:
    """Draw one person; returns the images and keypoints."""
    dx = rng.randint(-width // 12, width // 12)
    cx = width // 2 + dx
    shirt = tuple(rng.randint(30, 220) for _ in range(3))
    sw, top, bottom = width // 4 + rng.randint(-2, 2), int(height * 0.28), int(height * 0.6)
    labels = np.zeros((height, width), np.uint8)
    person = Image.new("RGB", (width, height), (235, 235, 235))
    parse = Image.fromarray(labels)
    dp, dl = ImageDraw.Draw(person), ImageDraw.Draw(parse)
    head_r = width // 10
    shapes = [  # (label, colour, box or polygon)
        (13, (224, 172, 140), ("ellipse", (cx - head_r, top - 2 * head_r - 2, cx + head_r, top - 2))),
        (2, (60, 40, 20), ("rect", (cx - head_r, top - 2 * head_r - 4, cx + head_r, top - int(1.6 * head_r)))),
        (10, (224, 172, 140), ("rect", (cx - head_r // 3, top - 4, cx + head_r // 3, top + 1))),
        (9, (40, 50, 120), ("rect", (cx - sw + 2, bottom, cx + sw - 2, height - 6))),
        (14, (224, 172, 140), ("rect", (cx + sw, top + 2, cx + sw + width // 12, bottom))),
        (15, (224, 172, 140), ("rect", (cx - sw - width // 12, top + 2, cx - sw, bottom))),
        (5, shirt, ("rect", (cx - sw, top, cx + sw, bottom))),
    ]
    for label, colour, (kind, box) in shapes:
        draw = dp.ellipse if kind == "ellipse" else dp.rectangle
        draw(box, fill=colour)
        (dl.ellipse if kind == "ellipse" else dl.rectangle)(box, fill=label)
    labels = np.asarray(parse).copy()
    # In-shop cloth: the shirt alone, centred, slightly larger, on white.
    cloth = Image.new("RGB", (width, height), (255, 255, 255))
    cmask = Image.new("L", (width, height), 0)
    cw, ch = int(sw * 1.4), int((bottom - top) * 0.8)
    box = (width // 2 - cw, height // 2 - ch, width // 2 + cw, height // 2 + ch)
    ImageDraw.Draw(cloth).rectangle(box, fill=shirt)
    ImageDraw.Draw(cmask).rectangle(box, fill=255)
    # Agnostic: shirt and arms greyed out, as VITON-HD's agnostic-v3.2.
    remove = np.isin(labels, (5, 14, 15))
    agn = np.asarray(person).copy()
    agn[remove] = 128
    parse_agn = labels.copy()
    parse_agn[remove] = 0
    kps = np.zeros((25, 3), np.float32)
    joints = {0: (cx, top - head_r), 1: (cx, top), 2: (cx - sw, top + 2), 5: (cx + sw, top + 2),
              3: (cx - sw - 3, (top + bottom) // 2), 6: (cx + sw + 3, (top + bottom) // 2),
              4: (cx - sw - 3, bottom), 7: (cx + sw + 3, bottom), 8: (cx, bottom),
              9: (cx - sw // 2, bottom), 12: (cx + sw // 2, bottom),
              10: (cx - sw // 2, (bottom + height) // 2), 13: (cx + sw // 2, (bottom + height) // 2)}
    for j, (x, y) in joints.items():
        kps[j] = (x, y, 0.9)
    return {"person": person, "labels": labels, "cloth": cloth, "cmask": cmask, "agnostic": agn,
            "agnostic_mask": remove, "parse_agn": parse_agn, "kps": kps}


def write_synthetic_viton(
    root: str | Path,
    n_train: int = 4,
    n_test: int = 2,
    size: tuple[int, int] = (128, 96),
    seed: int = 0,
    nested: bool = True,
) -> Path:
    """Write ``n_train``/``n_test`` samples of ``size=(H, W)`` under ``root`` and return it.

    ``nested=True`` gives ``root/{train,test}/...`` plus ``root/{split}_pairs.txt``;
    ``nested=False`` writes a flat single split (``root/image``..., ``root/train_pairs.txt``).
    """
    root = Path(root)
    height, width = size
    rng = random.Random(seed)
    splits = {"train": n_train, "test": n_test} if nested else {"train": n_train}
    index = 0
    for split, count in splits.items():
        base = root / split if nested else root
        for folder in ("image", "cloth", "cloth-mask", "image-parse-v3", "openpose_json", "openpose_img",
                       "agnostic-v3.2", "agnostic-mask", "image-parse-agnostic-v3.2"):
            (base / folder).mkdir(parents=True, exist_ok=True)
        names = []
        for _ in range(count):
            name = f"{index:05d}_00"
            index += 1
            names.append(name)
            s = _sample(rng, width, height)
            s["person"].save(base / "image" / f"{name}.jpg", quality=95)
            s["cloth"].save(base / "cloth" / f"{name}.jpg", quality=95)
            s["cmask"].save(base / "cloth-mask" / f"{name}.jpg", quality=95)
            _palette_png(s["labels"], base / "image-parse-v3" / f"{name}.png")
            _palette_png(s["parse_agn"], base / "image-parse-agnostic-v3.2" / f"{name}.png")
            Image.fromarray(s["agnostic"]).save(base / "agnostic-v3.2" / f"{name}.jpg", quality=95)
            Image.fromarray((s["agnostic_mask"] * 255).astype(np.uint8)).save(base / "agnostic-mask" / f"{name}_mask.png")
            Image.new("RGB", (width, height)).save(base / "openpose_img" / f"{name}_rendered.png")
            pose = {"version": 1.3, "people": [{
                "person_id": [-1],
                "pose_keypoints_2d": [float(v) for v in s["kps"].reshape(-1)],
                "face_keypoints_2d": [0.0] * 210,
                "hand_left_keypoints_2d": [0.0] * 63,
                "hand_right_keypoints_2d": [0.0] * 63,
            }]}
            (base / "openpose_json" / f"{name}_keypoints.json").write_text(json.dumps(pose))
        (root / f"{split}_pairs.txt").write_text("".join(f"{n}.jpg {n}.jpg\n" for n in names))
    return root


# BODY_25 index of each COCO-18 joint (BODY_25 inserts MidHip at 8).
COCO_TO_BODY25 = (0, 1, 2, 3, 4, 5, 6, 7, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18)


def write_viton_style(root: Path, n_train: int = 3, n_val: int = 2) -> Path:
    """A VITON folder as CP-VTON releases it, drawn from the synthetic VITON-HD samples.

    Persons are ``X_0.jpg``, garments ``X_1.jpg``; parse maps carry LIP ids (no neck: CIHP's 10
    becomes background), poses are OpenPose 1.0 COCO-18 under ``pose_keypoints``, and the cloth
    masks are greyscale JPEGs whose edges are no longer pure black and white.
    """
    hd = write_synthetic_viton(root.parent / f"{root.name}-hd", n_train=n_train, n_test=n_val)
    for src_split, split in (("train", "train"), ("test", "val")):
        base = root / split
        for folder in ("image", "cloth", "cloth-mask", "image-parse", "pose"):
            (base / folder).mkdir(parents=True, exist_ok=True)
        lines = []
        for person in sorted((hd / src_split / "image").iterdir()):
            stem = person.stem.split("_")[0]
            p, c = f"{stem}_0", f"{stem}_1"
            shutil.copy(person, base / "image" / f"{p}.jpg")
            shutil.copy(hd / src_split / "cloth" / person.name, base / "cloth" / f"{c}.jpg")
            mask = Image.open(hd / src_split / "cloth-mask" / person.name).convert("L")
            mask.save(base / "cloth-mask" / f"{c}.jpg", quality=60)
            labels = np.asarray(Image.open(hd / src_split / "image-parse-v3" / f"{person.stem}.png")).copy()
            labels[labels == 10] = 0
            Image.fromarray(labels, mode="L").save(base / "image-parse" / f"{p}.png")
            body = _read_body25(hd / src_split / "openpose_json" / f"{person.stem}_keypoints.json")
            coco = body[list(COCO_TO_BODY25)]
            (base / "pose" / f"{p}_keypoints.json").write_text(json.dumps(
                {"version": 1.0, "people": [{"pose_keypoints": coco.reshape(-1).tolist(), "face_keypoints": [],
                                             "hand_left_keypoints": [], "hand_right_keypoints": []}]}))
            lines.append(f"{p}.jpg {c}.jpg\n")
        (root / f"{split}_pairs.txt").write_text("".join(lines))
    shutil.rmtree(hd)
    return root


def _read_body25(path: Path) -> np.ndarray:
    return np.asarray(json.loads(path.read_text())["people"][0]["pose_keypoints_2d"], dtype=np.float64).reshape(25, 3)
