"""Two-process DDP training on gloo (CPU) ends with identical weights on both ranks; only rank 0 writes."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import torch.multiprocessing as mp
import yaml

from pipeline.train.data import VitonDataset
from pipeline.train.distributed import init_distributed, shutdown
from pipeline.train.gmm_trainer import GMMTask
from pipeline.train.loop import Trainer
from tests.train_helpers import assert_same_state, synthetic_with_warps, tiny_cfg

REPO = Path(__file__).resolve().parents[1]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _worker(rank: int, world: int, port: int, root: str, out: str) -> None:
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), WORLD_SIZE=str(world), RANK=str(rank), LOCAL_RANK=str(rank))
    cfg = tiny_cfg(Path(root), "gmm", epochs=2)
    dist = init_distributed("cpu")
    try:
        train = VitonDataset(cfg.dataset, "train", size=cfg.size)
        val = VitonDataset(cfg.dataset, "test", size=cfg.size)
        result = Trainer(GMMTask(cfg), cfg, train, val, Path(out) / "ckpt", dist,
                         history_csv=Path(out) / f"history_rank{rank}.csv").run()
        # The live weights at the end (not the best.pt copy every rank receives from rank 0).
        torch.save({"final": result.final_state["gmm"], "history": result.history}, Path(out) / f"rank{rank}.pt")
    finally:
        shutdown(dist)


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return synthetic_with_warps(tmp_path_factory.mktemp("ddp"), n_train=6, n_test=2)[0]


def test_two_gloo_ranks_end_with_equal_weights(data: Path, tmp_path: Path) -> None:
    mp.spawn(_worker, args=(2, _free_port(), str(data), str(tmp_path)), nprocs=2, join=True)
    r0, r1 = torch.load(tmp_path / "rank0.pt"), torch.load(tmp_path / "rank1.pt")
    assert_same_state(r0["final"], r1["final"])
    # Losses are averaged over ranks, so both report the same history; only rank 0 wrote files.
    assert r0["history"][-1]["train_loss"] == r1["history"][-1]["train_loss"]
    assert (tmp_path / "history_rank0.csv").is_file() and not (tmp_path / "history_rank1.csv").exists()
    assert (tmp_path / "ckpt" / "last.pt").is_file()


def test_stage_under_torchrun(data: Path, tmp_path: Path) -> None:
    """``torchrun --nproc_per_node 2 -m stages.train_gmm`` with params from VTON_PARAMS."""
    cfg = tiny_cfg(data, "gmm", epochs=1, mlflow_experiment="").to_dict()  # MLflow is covered in test_tracking
    params = tmp_path / "params.yaml"
    params.write_text(yaml.safe_dump({"train_gmm": cfg}))
    env = {**os.environ, "VTON_PARAMS": str(params), "PYTHONPATH": str(REPO),
           "OMP_NUM_THREADS": "1"}
    torchrun = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_port", str(_free_port())]
    proc = subprocess.run([*torchrun, "-m", "stages.train_gmm"], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert (tmp_path / "data" / "train_gmm" / "model" / "model.pt").is_file()
    assert (tmp_path / "metrics" / "train_gmm.json").is_file()
    assert "world=2" in proc.stderr  # both ranks joined one gloo group
    assert not (tmp_path / "mlflow.db").exists()
