"""An interrupted training run resumes from last.pt and ends with exactly the weights of an uninterrupted one."""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any

import pytest
import torch

from pipeline.train.checkpoint import load_checkpoint
from pipeline.train.data import VitonDataset
from pipeline.train.distributed import DistContext
from pipeline.train.gmm_trainer import GMMTask
from pipeline.train import loop
from pipeline.train.loop import StepContext, Trainer
from pipeline.train.stage_runner import StagePaths, run_training_stage
from pipeline.train.tom_trainer import TOMTask
from tests.synthetic_viton import write_synthetic_viton
from tests.train_helpers import assert_same_state, synthetic_with_warps, tiny_cfg

CPU = DistContext()


class Crash(RuntimeError):
    pass


def crashing(task_cls: type, after_steps: int) -> type:
    """The task, dying on its ``after_steps``-th training step (a killed process, as far as files go)."""

    class Crashing(task_cls):  # type: ignore[misc, valid-type]
        steps = 0

        def train_step(self, ctx: StepContext, batch: dict[str, Any]) -> dict[str, torch.Tensor]:
            type(self).steps += 1
            if type(self).steps > after_steps:
                raise Crash("simulated crash")
            return super().train_step(ctx, batch)

    return Crashing


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    return synthetic_with_warps(tmp_path_factory.mktemp("resume"))


def _sets(cfg: Any, warped: Path | None) -> tuple[VitonDataset, VitonDataset]:
    return (VitonDataset(cfg.dataset, "train", size=cfg.size, warped_root=warped),
            VitonDataset(cfg.dataset, "test", size=cfg.size, warped_root=warped))


@pytest.mark.parametrize(("kind", "schedule"), [("gmm", "constant"), ("tom", "constant"), ("gmm", "linear")])
def test_crash_and_resume_matches_uninterrupted(kind: str, schedule: str, data: tuple[Path, Path], tmp_path: Path) -> None:
    root, warped = data
    cfg = tiny_cfg(root, kind, epochs=2, lr_schedule=schedule)
    task_cls = GMMTask if kind == "gmm" else TOMTask
    train, val = _sets(cfg, warped if kind == "tom" else None)

    straight = Trainer(task_cls(cfg), cfg, train, val, tmp_path / "a", CPU).run()
    assert [row["epoch"] for row in straight.history] == [1, 2]

    # 2 steps per epoch (4 pairs, batch 2): die on the first step of epoch 2, after epoch 1's checkpoint.
    with pytest.raises(Crash):
        Trainer(crashing(task_cls, after_steps=2)(cfg), cfg, train, val, tmp_path / "b", CPU).run()
    assert load_checkpoint(tmp_path / "b" / "last.pt")["epoch"] == 1
    resumed = Trainer(task_cls(cfg), cfg, train, val, tmp_path / "b", CPU).run()
    assert resumed.resumed_from == 1 and [row["epoch"] for row in resumed.history] == [1, 2]

    a, b = load_checkpoint(tmp_path / "a" / "last.pt"), load_checkpoint(tmp_path / "b" / "last.pt")
    for name in a["modules"]:
        assert_same_state(a["modules"][name], b["modules"][name])
    for name in a["optimizers"]:
        assert a["optimizers"][name]["state"].keys() == b["optimizers"][name]["state"].keys()
        for key, st in a["optimizers"][name]["state"].items():
            assert torch.equal(st["exp_avg"], b["optimizers"][name]["state"][key]["exp_avg"])
    assert a["history"][1]["val_l1"] == b["history"][1]["val_l1"]
    # The schedule came back with the checkpoint: a linear one ends annealed to 0, a constant one at lr.
    final_lr = a["optimizers"][task_cls.main_module]["param_groups"][0]["lr"]
    assert final_lr == (0.0 if schedule == "linear" else cfg.lr)
    assert b["optimizers"][task_cls.main_module]["param_groups"][0]["lr"] == final_lr
    # Training really moved the weights (the comparison above is not between two untouched models).
    fresh = task_cls(cfg).create_modules()[task_cls.main_module].state_dict()
    assert any(not torch.equal(fresh[k], v) for k, v in a["modules"][task_cls.main_module].items())


def test_other_params_start_afresh_and_more_epochs_continue(data: tuple[Path, Path], tmp_path: Path) -> None:
    root, _ = data
    cfg = tiny_cfg(root, "gmm", epochs=1)
    train, val = _sets(cfg, None)
    Trainer(GMMTask(cfg), cfg, train, val, tmp_path, CPU).run()
    # Raising epochs continues the finished run...
    more = tiny_cfg(root, "gmm", epochs=2)
    assert Trainer(GMMTask(more), more, train, val, tmp_path, CPU).run().resumed_from == 1
    # ...while a different learning rate must not reuse its weights.
    other = tiny_cfg(root, "gmm", epochs=2, lr=3e-4)
    result = Trainer(GMMTask(other), other, train, val, tmp_path, CPU).run()
    assert result.resumed_from == 0 and len(result.history) == 2


def test_other_code_or_touched_data_start_afresh(data: tuple[Path, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A code change or an upstream re-run makes DVC re-run training: it must train again, not resume the old result."""
    root, _ = data
    cfg = tiny_cfg(root, "gmm", epochs=1)
    train, val = _sets(cfg, None)
    Trainer(GMMTask(cfg), cfg, train, val, tmp_path, CPU).run()
    assert Trainer(GMMTask(cfg), cfg, train, val, tmp_path, CPU).run().resumed_from == 1
    monkeypatch.setattr(loop, "code_fingerprint", lambda: "other-code")
    assert Trainer(GMMTask(cfg), cfg, train, val, tmp_path, CPU).run().resumed_from == 0
    monkeypatch.undo()
    Trainer(GMMTask(cfg), cfg, train, val, tmp_path, CPU).run()  # finished again with today's code
    first = train.pairs[0].images()[0]
    stat = first.stat()
    os.utime(first, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000_000))  # the file was rewritten
    assert Trainer(GMMTask(cfg), cfg, train, val, tmp_path, CPU).run().resumed_from == 0


def test_code_fingerprint_follows_the_source(tmp_path: Path) -> None:
    pkg = tmp_path / "train"
    pkg.mkdir()
    (pkg / "a.py").write_text("x = 1\n")
    before = loop.code_fingerprint((pkg,))
    assert loop.code_fingerprint((pkg,)) == before
    (pkg / "a.py").write_text("x = 2\n")
    assert loop.code_fingerprint((pkg,)) != before


def test_missing_test_split_validates_on_train(tmp_path: Path) -> None:
    root = write_synthetic_viton(tmp_path / "d", n_train=3, n_test=0)
    shutil.rmtree(root / "test")
    (root / "test_pairs.txt").unlink()
    cfg = tiny_cfg(root, "gmm", epochs=1, mlflow_experiment="")
    metrics = run_training_stage("gmm", cfg, StagePaths.for_stage("train_gmm", tmp_path / "data", tmp_path / "metrics"))
    assert metrics is not None and metrics["val_split"] == "train" and metrics["val_pairs"] == 3
