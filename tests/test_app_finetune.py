"""AppTest of the Model page's "Start from" box: a saved run, freeze up to, the lr scale, ImageNet
for torchvision models only; what "Use this model" stores, and the Train page's line about it."""

from __future__ import annotations

import dataclasses

from cnnlab.config import ModelConfig, WatchConfig
from cnnlab.finetune import HEAD_ONLY
from cnnlab.recipes import default_run_config
from cnnlab.runs import create_run
from cnnlab.runs.runner import execute_run
from tests.test_app_home_data_model import open_app


def _shapes_run() -> str:
    cfg = default_run_config("shapes", num_images=120)
    train = dataclasses.replace(cfg.train, epochs=1, batch_events_per_s=0.0, checkpoint_every=0)
    quiet = WatchConfig(snapshots=False, embedding_points=0, norms_every=0)
    run = create_run(dataclasses.replace(cfg, train=train, watch=quiet))
    assert execute_run(run) == "finished"
    return run.run_id


def test_start_from_a_saved_run_with_frozen_blocks_and_a_lower_lr() -> None:
    parent = _shapes_run()
    at = open_app("model")
    start = at.button_group(key="ft_start")
    assert start.options == ["Scratch", "A saved run"]  # fastnet: no ImageNet weights offered
    assert at.select_slider(key="ft_lr_scale").disabled  # scratch: nothing pre-trained
    start.set_value("A saved run").run()
    assert at.selectbox(key="ft_run").value == parent
    assert at.selectbox(key="ft_freeze").options[-1].startswith("everything but the head")
    at.selectbox(key="ft_freeze").set_value("stage1").run()
    at.select_slider(key="ft_lr_scale").set_value(0.1).run()
    at.button(key="use_model").click().run()
    assert not at.exception, [e.value for e in at.exception]
    cfg = at.session_state.model_cfg
    assert (cfg.init_from, cfg.freeze_up_to, cfg.pretrained_lr_scale) == (parent, "stage1", 0.1)
    assert not cfg.pretrained and cfg.name == "fastnet"
    at.switch_page("pages/train.py").run()
    line = next(c.value for c in at.caption if "starts from the weights" in c.value.lower())
    line = line.replace("\\", "").replace("\u2060", "")  # Markdown escapes (md_escape)
    assert parent in line and "stage1" in line and "0.1 × the learning rate" in line


def test_imagenet_is_offered_for_torchvision_models_only() -> None:
    at = open_app("model")
    at.selectbox(key="model_preset").set_value("mobilenet-v3-small").run()
    at.button_group(key="ft_start").set_value("ImageNet weights").run()
    assert any("torch cache" in c.value for c in at.caption)
    at.selectbox(key="ft_freeze").set_value(HEAD_ONLY).run()
    at.button(key="use_model").click().run()
    assert at.session_state.model_cfg == ModelConfig(
        name="mobilenet-v3-small", pretrained=True, freeze_up_to=HEAD_ONLY
    )
    at.selectbox(key="model_preset").set_value("lenet5").run()  # no ImageNet weights: scratch
    assert at.button_group(key="ft_start").value == "Scratch"
    assert not at.exception, [e.value for e in at.exception]
