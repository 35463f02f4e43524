"""Run a trained keypoint refiner (``train_pose_refine``'s ONNX model) on our BODY_25 poses."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from pipeline.log import get_logger
from pipeline.annotate.body25 import L_HIP, MID_HIP, R_HIP

log = get_logger(__name__)

MODEL_FILE = "refiner.onnx"
META_FILE = "meta.json"


def refiner_pose(model: str | Path | None) -> dict[str, object]:
    """The ``pose:`` params that run the refiner in ``model`` (none: the defaults); the hem pull is off beside it."""
    return {} if model is None else {"refiner_model": str(model), "hem_pull_down": 0.0}


class PoseRefinerUnavailable(RuntimeError):
    """The refiner folder named by ``pose.refiner_model`` is missing or unreadable."""


class PoseRefiner:
    """Loads ``refiner.onnx`` and ``meta.json`` from a folder once; :meth:`refine` moves the joints it was trained on."""

    def __init__(self, model_dir: str | Path, threads: int = 1) -> None:
        # Imported here: the CLI modules import this one for refiner_pose, and must stay light.
        import onnxruntime as ort

        from pipeline.annotate import joint_crops

        self._crops = joint_crops
        folder = Path(model_dir)
        hint = "set pose.refiner_model to a copy of data/train_pose_refine/model (made by `dvc repro train_pose_refine`)"
        if not (folder / MODEL_FILE).is_file() or not (folder / META_FILE).is_file():
            raise PoseRefinerUnavailable(f"No pose refiner in {folder} ({MODEL_FILE} and {META_FILE} needed): {hint}.")
        try:
            meta = json.loads((folder / META_FILE).read_text(encoding="utf-8"))
            self.cfg = joint_crops.KeypointRefinerConfig.from_dict(meta["refiner"])
            opts = ort.SessionOptions()
            opts.intra_op_num_threads = max(1, threads)
            opts.inter_op_num_threads = 1
            self._session = ort.InferenceSession(str(folder / MODEL_FILE), opts, providers=["CPUExecutionProvider"])
        except Exception as exc:  # bad JSON, a config from another version, onnxruntime's untyped errors
            raise PoseRefinerUnavailable(f"The pose refiner in {folder} could not be loaded ({exc}); {hint}.") from exc
        self._input = self._session.get_inputs()[0].name
        log.info("pose refiner loaded", model=str(folder), joints=list(self.cfg.joints))

    def refine(self, body: np.ndarray, rgb: np.ndarray) -> np.ndarray:
        """A copy of ``body`` (25, 3) with each refined joint that was found moved; MidHip follows the hips.

        Unchanged when the neck or a hip is missing (no torso length to scale the crops by).
        """
        out = np.array(body, dtype=np.float64, copy=True).reshape(-1, 3)
        torso = self._crops.crop_torso(out)
        if torso is None:
            return out
        joints = [j for j in self.cfg.joints if out[j, 2] > 0]
        if not joints:
            return out
        crops = self._crops.joint_crops_many(rgb, out[joints, :2], torso, self.cfg)
        offsets = self._session.run(None, {self._input: self._crops.crops_to_input(crops)})[0]
        index = {j: i for i, j in enumerate(self.cfg.joints)}
        for row, j in enumerate(joints):
            out[j, :2] += offsets[row, index[j]] * torso
        if out[R_HIP, 2] > 0 and out[L_HIP, 2] > 0:
            out[MID_HIP, :2] = (out[R_HIP, :2] + out[L_HIP, :2]) / 2
        return out
