"""Fine-tuning: a saved run's weights on new data beat scratch, frozen blocks stay exactly as
loaded, the head is rebuilt with a message when the classes differ, `--more-epochs` makes a new
run from a finished one, and ImageNet weights come from the torch cache or fail clearly offline."""

from __future__ import annotations

import dataclasses
import json
import shutil
from pathlib import Path

import pytest
import torch
from torchvision import models as tvm

from cnnlab.cli import main
from cnnlab.config import (
    AugmentConfig,
    DataConfig,
    ModelConfig,
    RunConfig,
    TrainConfig,
    WatchConfig,
)
from cnnlab.events import DownloadEvent
from cnnlab.finetune import HEAD_ONLY, FinetuneError, freeze_choices, prepare
from cnnlab.models import build_model, hub_checkpoint
from cnnlab.recipes import default_run_config
from cnnlab.runs import create_run, get_run, list_runs
from cnnlab.runs.runner import execute_run
from cnnlab.runs.store import resolve_runs_dir
from tests.digit_maker import make_digit_folder

QUIET = WatchConfig(snapshots=False, embedding_points=0, norms_every=0)
FAST = dict(batch_events_per_s=0.0, checkpoint_every=0, threads=2, precision="fp32")


def _train(cfg: RunConfig) -> tuple[str, dict]:
    run = create_run(cfg)
    assert execute_run(run) == "finished", run.status().message
    return run.run_id, run.metrics()


@pytest.fixture(scope="module")
def parent_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A finished 1-epoch `digits` run (classic), trained once for the module."""
    runs = tmp_path_factory.mktemp("parent")
    cfg = default_run_config("digits")
    cfg = dataclasses.replace(cfg, train=dataclasses.replace(cfg.train, epochs=1, **FAST))
    run = create_run(dataclasses.replace(cfg, watch=QUIET), runs)
    assert execute_run(run) == "finished"
    return run.path


@pytest.fixture
def parent(parent_dir: Path) -> str:
    """The module's digits run, copied into this test's runs folder; its id."""
    shutil.copytree(parent_dir, resolve_runs_dir() / parent_dir.name)
    return parent_dir.name


@pytest.fixture(scope="module")
def digit_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """500 rendered digits (50 per class), RGB 28x28, as class folders: not MNIST."""
    return make_digit_folder(tmp_path_factory.mktemp("made") / "digits", 50, seed=3)


def test_mnist_run_fine_tuned_on_made_digits_beats_scratch(
    real_data: Path, digit_folder: Path
) -> None:
    from cnnlab.data import load_dataset
    from cnnlab.training import evaluate_split, train

    source = default_run_config("mnist", limit=3000)
    source = dataclasses.replace(
        source, model=ModelConfig(name="classic"), train=TrainConfig(epochs=1, **FAST), watch=QUIET
    )
    mnist_id, mnist = _train(source)
    assert mnist["test_acc"] > 0.8
    # The user's folder: half of it held out for a steadier test figure; the same budget each.
    folder = DataConfig(name="folder", path=str(digit_folder), image_size=28, test_fraction=0.5)
    budget = TrainConfig(epochs=2, batch_size=32, **FAST)
    dataset = load_dataset(folder)
    accuracy = {}
    for start in ("scratch", "fine-tuned"):
        model_cfg = ModelConfig(name="classic", init_from=mnist_id if start != "scratch" else "")
        torch.manual_seed(0)
        model = build_model(model_cfg, dataset.preprocess, dataset.num_classes)
        report = prepare(model, model_cfg, class_names=dataset.class_names)
        cfg = RunConfig(data=folder, augment=AugmentConfig(), model=model_cfg, train=budget)
        train(cfg, dataset, model, emit=lambda e: None)
        test = dataset.test
        accuracy[start] = evaluate_split(model, test.x, test.y, 512, torch.device("cpu"))[1]
    print(f"made digits ({len(dataset.train)} train, {len(dataset.test)} test), 2 epochs: "
          f"scratch {accuracy['scratch']:.3f}, fine-tuned from MNIST {accuracy['fine-tuned']:.3f}")  # fmt: skip
    assert accuracy["fine-tuned"] > accuracy["scratch"] + 0.1
    # RGB folder, grey MNIST: the first conv was adapted; the classes (0..9) match: head kept
    assert report.messages == (
        "the first conv is adapted from 1 to 3 input channel(s) (its filters summed and spread "
        "over the new channels)",
    )


def _digits_model(cfg: ModelConfig, run_id: str, classes: list[str]) -> torch.nn.Module:
    from cnnlab.data import load_dataset

    data = load_dataset(DataConfig(name="digits"))
    model = build_model(cfg, data.preprocess, len(classes))
    prepare(model, cfg, class_names=classes)
    return model


def test_frozen_blocks_do_not_change_and_the_rest_learns(parent: str) -> None:
    from cnnlab.data import load_dataset
    from cnnlab.training import train

    cfg = ModelConfig(name="classic", init_from=parent, freeze_up_to="block1")
    dataset = load_dataset(DataConfig(name="digits"))
    model = build_model(cfg, dataset.preprocess, dataset.num_classes)
    report = prepare(model, cfg, class_names=dataset.class_names)
    assert report.frozen == ("net.block1.conv.weight", "net.block1.conv.bias")
    before = {k: v.clone() for k, v in model.state_dict().items()}
    loaded = get_run(parent).load_weights()
    assert torch.equal(before["net.block2.conv.weight"], loaded["net.block2.conv.weight"])
    run = RunConfig(data=DataConfig(name="digits"), train=TrainConfig(epochs=1, **FAST))
    train(run, dataset, model, emit=lambda e: None)
    after = model.state_dict()
    for key in before:
        same = torch.equal(before[key], after[key])
        assert same == key.startswith(("net.block1.", "norm.")), key
    bn = build_model(ModelConfig(name="vgg-small"), dataset.preprocess, 10)
    prepare(bn, ModelConfig(name="vgg-small", freeze_up_to=HEAD_ONLY), class_names=[])
    stats = {k: v.clone() for k, v in bn.state_dict().items() if "running" in k}
    bn.train()(torch.rand(8, *dataset.input_shape))  # a frozen batch-norm keeps its statistics
    assert all(torch.equal(v, bn.state_dict()[k]) for k, v in stats.items())
    assert freeze_choices(bn.net) == ["", "stage1", "stage2", "stage3", HEAD_ONLY]
    with pytest.raises(FinetuneError, match="choose one of: stage1, stage2, stage3, body"):
        prepare(bn, ModelConfig(name="vgg-small", freeze_up_to="head"), class_names=[])


def test_head_rebuilt_with_a_message_when_the_classes_differ(parent: str) -> None:
    source = get_run(parent).load_weights()
    cfg = ModelConfig(name="classic", init_from=parent, pretrained_lr_scale=0.1)
    model = _digits_model(cfg, parent, ["cat", "dog", "owl"])
    assert "the head (head.fc2) is rebuilt for this dataset's 3 classes" in model.pretrained_note
    state = model.state_dict()
    assert state["net.head.fc2.weight"].shape == (3, 128)
    assert torch.equal(state["net.head.fc1.weight"], source["net.head.fc1.weight"])
    same = _digits_model(cfg, parent, [str(i) for i in reversed(range(10))])  # reordered
    assert torch.equal(
        same.state_dict()["net.head.fc2.weight"], source["net.head.fc2.weight"].flip(0)
    )
    from cnnlab.optim import build_optimizer

    groups = build_optimizer(model, TrainConfig(lr=0.01)).param_groups
    scaled = {id(p) for g in groups if g["lr"] == pytest.approx(0.001) for p in g["params"]}
    head = {id(p) for n, p in model.named_parameters() if n.startswith("net.head.fc2")}
    assert scaled and not scaled & head and groups[0]["lr"] == 0.01


def test_more_epochs_makes_a_new_run_that_names_its_parent(
    parent: str, capsys: pytest.CaptureFixture
) -> None:
    before = get_run(parent).metrics()
    code = main(["train", "--from-run", parent, "--more-epochs", "2", "--quiet", "--json",
                 "--freeze-up-to", "block1", "--threads", "2"])  # fmt: skip
    assert code == 0
    child = next(r for r in list_runs() if r.run_id != parent)
    cfg = get_run(child.run_id).config()
    assert cfg.model.init_from == parent and cfg.train.epochs == 2
    assert cfg.model.freeze_up_to == "block1" and cfg.data == get_run(parent).config().data
    assert get_run(child.run_id).metrics()["epochs_done"] == 2
    assert get_run(parent).metrics() == before  # the parent is untouched
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert lines[-1]["status"] == "finished"
    assert main(["train", "--more-epochs", "2"]) == 2  # needs --from-run
    assert "--from-run RUN" in capsys.readouterr().err
    assert main(["train", "--from-run", parent, "--freeze-up-to", "nope"]) == 2  # nothing written
    assert "choose one of: block1, block2, body" in capsys.readouterr().err
    assert len(list_runs()) == 2


def _fake_imagenet() -> None:
    """A valid (random) MobileNetV3-Small state dict under the file name torch.hub expects."""
    path = hub_checkpoint(tvm.MobileNet_V3_Small_Weights.IMAGENET1K_V1)
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(5)
    torch.save(tvm.mobilenet_v3_small(weights=None).state_dict(), path)


def test_imagenet_from_the_cache_and_offline_failure(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from urllib.error import URLError

    def offline(*args: object, **kwargs: object) -> None:
        raise URLError("[Errno -3] Temporary failure in name resolution")

    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    monkeypatch.setattr("urllib.request.urlopen", offline)
    data = DataConfig(name="shapes", num_images=60, image_size=16)
    model = ModelConfig(name="mobilenet-v3-small", pretrained=True, freeze_up_to="features.3")
    cfg = RunConfig(data=data, model=model, train=TrainConfig(epochs=1, **FAST), watch=QUIET)
    run = create_run(cfg)
    assert execute_run(run) == "failed"  # never silently from scratch
    status, path = run.status(), hub_checkpoint(tvm.MobileNet_V3_Small_Weights.IMAGENET1K_V1)
    assert status.error_kind == "weights_unavailable"
    assert (
        f"Expected the file {path.name} in the torch cache folder {path.parent}" in status.message
    )
    assert str(tmp_path / "torch" / "hub" / "checkpoints") == str(path.parent)
    _fake_imagenet()
    run = create_run(cfg)
    assert execute_run(run) == "finished", run.status().message
    assert run.meta()["pretrained_note"].startswith("started from ImageNet weights")
    assert not [e for e in run.read_events()[0] if isinstance(e, DownloadEvent)]  # cached
    assert run.metrics()["epochs_done"] == 1
    hub_checkpoint(tvm.MobileNet_V3_Small_Weights.IMAGENET1K_V1).unlink()

    def fake_download(url: str, path: Path, progress: object) -> None:  # "online"
        progress(1_000, 2_000)  # type: ignore[operator]
        _fake_imagenet()
        progress(2_000, 2_000)  # type: ignore[operator]

    monkeypatch.setattr("cnnlab.models.torchvision_nets.download", fake_download)
    run = create_run(cfg)
    assert execute_run(run) == "finished", run.status().message
    seen = [
        (e.done_bytes, e.total_bytes) for e in run.read_events()[0] if isinstance(e, DownloadEvent)
    ]
    assert seen == [(1_000, 2_000), (2_000, 2_000)]  # in the run's events, for the Train page


def test_download_reports_progress_and_checks_the_hash(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import hashlib
    import io

    from cnnlab.models.torchvision_nets import download

    body = b"x" * 200_000
    good = tmp_path / f"net-{hashlib.sha256(body).hexdigest()[:8]}.pth"

    class Response(io.BytesIO):
        headers = {"Content-Length": str(len(body))}

    monkeypatch.setattr("urllib.request.urlopen", lambda *a, **k: Response(body))
    seen: list[tuple[int, int]] = []
    download("https://example.invalid/net.pth", good, lambda d, t: seen.append((d, t)))
    assert good.read_bytes() == body and seen[-1] == (len(body), len(body))
    bad = tmp_path / "net-00000000.pth"
    with pytest.raises(ValueError, match="sha256"):
        download("https://example.invalid/net.pth", bad, None)
    assert not bad.exists() and not list(tmp_path.glob(".*partial"))
