"""Snapshots of a run (cnnlab.watch): what is stored, how big, and a consistent timeline after a
stop and a resume; PCA against scikit-learn."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from sklearn.decomposition import PCA

from cnnlab.config import DataConfig, RunConfig, TrainConfig, WatchConfig
from cnnlab.runs import create_run
from cnnlab.runs.runner import execute_run
from cnnlab.watch import align, frame_steps, load_plan, load_probe_images, pca_2d, read_frame
from cnnlab.watch.monitor import EARLY_POINTS

DIGITS = DataConfig(name="digits")


def _frames(run):
    return [read_frame(run.snapshots_dir, s) for s in frame_steps(run.snapshots_dir)]


def test_a_run_stores_epoch_zero_early_points_and_each_epoch_within_budget() -> None:
    run = create_run(RunConfig(data=DIGITS, train=TrainConfig(epochs=2)))
    assert execute_run(run) == "finished"
    plan = load_plan(run.snapshots_dir)
    frames = _frames(run)
    spe = plan.steps_per_epoch
    assert [f.kind for f in frames] == ["start"] + ["early"] * len(EARLY_POINTS) + ["epoch"] * 2
    assert [f.step for f in frames][-2:] == [spe, 2 * spe] and frames[0].step == 0
    k = len(plan.class_names)
    assert len(plan.probe_indices) == 2 * k  # probes_per_class = 2, every class
    assert sorted(set(plan.probe_labels)) == list(range(k))
    images = load_probe_images(run.snapshots_dir)
    assert images.shape[0] == 2 * k and images.dtype == np.uint8
    for frame in frames:
        assert frame.probs.shape == (2 * k, k)
        np.testing.assert_allclose(frame.probs.sum(1), 1.0, atol=1e-4)
        assert len(frame.maps) == len(plan.layers) >= 1
        for maps, (h, w) in zip(frame.maps, plan.map_sizes, strict=True):
            assert maps.shape == (2 * k, plan.channels, h, w) and maps.dtype == np.uint8
        has_embedding = frame.kind != "early"
        assert (frame.embed_xy is not None) == has_embedding
        if has_embedding:
            assert frame.embed_xy.shape == (len(plan.embed_indices), 2)
    total = sum(p.stat().st_size for p in run.snapshots_dir.iterdir())
    assert total < 1_000_000  # bytes: a small run's snapshots stay small


def test_stop_then_resume_gives_one_timeline_without_duplicates(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    cfg = RunConfig(data=DIGITS, train=TrainConfig(epochs=3), watch=WatchConfig())
    run = create_run(cfg)
    stops = iter(range(10**6))

    # Stop during epoch 2: the partial epoch is recorded, the checkpoint is epoch 1's.
    from cnnlab.runs.store import Run

    def stop_in_epoch_two(self: Run) -> bool:
        plan = load_plan(self.snapshots_dir)  # polled once per batch
        return plan is not None and next(stops) > plan.steps_per_epoch + 2

    with monkeypatch.context() as patch:
        patch.setattr(Run, "stop_requested", stop_in_epoch_two)
        assert execute_run(run) == "stopped"
    kinds = [f.kind for f in _frames(run)]
    assert kinds[-1] == "stopped" and kinds.count("start") == 1
    assert execute_run(run, resume=True) == "finished"
    frames = _frames(run)
    steps = [f.step for f in frames]
    assert steps == sorted(set(steps))  # ordered, no step twice
    assert [f.kind for f in frames].count("start") == 1 and "stopped" not in {
        f.kind for f in frames
    }
    assert [f.epoch for f in frames if f.kind == "epoch"] == [1.0, 2.0, 3.0]


def test_snapshots_off_records_nothing() -> None:
    run = create_run(
        RunConfig(data=DIGITS, train=TrainConfig(epochs=1), watch=WatchConfig(snapshots=False))
    )
    assert execute_run(run) == "finished"
    assert frame_steps(run.snapshots_dir) == []


def test_pca_matches_scikit_learn_up_to_sign_and_alignment_keeps_distances() -> None:
    x = torch.randn(200, 16, generator=torch.Generator().manual_seed(0)).numpy()
    x[:, 0] *= 5
    coords, ratio = pca_2d(x)
    pca = PCA(2).fit(x)
    reference = pca.transform(x)
    for axis in range(2):
        sign = np.sign(coords[:, axis] @ reference[:, axis])
        np.testing.assert_allclose(coords[:, axis] * sign, reference[:, axis], atol=1e-4)
    np.testing.assert_allclose(ratio, pca.explained_variance_ratio_, atol=1e-5)
    turned = coords @ np.array([[0.0, -1.0], [1.0, 0.0]])  # the same picture, rotated 90 degrees
    first, second = align([coords, turned])
    np.testing.assert_allclose(second, first, atol=1e-4)  # aligned back onto the previous frame


@pytest.mark.parametrize("classes", [3, 100])
def test_probes_are_capped(classes: int) -> None:
    from cnnlab.watch.probes import MAX_PROBES, choose_probes

    labels = np.repeat(np.arange(classes), 5)
    chosen = choose_probes(labels, classes, 4, seed=0)
    assert len(chosen) <= MAX_PROBES and len(set(chosen.tolist())) == len(chosen)
    np.testing.assert_array_equal(chosen, choose_probes(labels, classes, 4, seed=0))
