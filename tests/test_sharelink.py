"""Share links (cnnlab/sharelink.py) and the locks they and a lesson set (cnnlab/sharelock.py)."""

from __future__ import annotations

import dataclasses
import urllib.parse
import zlib

import pytest

from cnnlab import sharelink
from cnnlab.classroom.lesson import ClassLimits, FieldRange, Lesson, _check_lesson
from cnnlab.config import ConvBlock, DataConfig, ModelConfig, ModelSpec, ShapesConfig, TrainConfig
from cnnlab.sharelink import SharedState, ViewState, decode, encode
from cnnlab.sharelock import LESSON, LINK, rules_for


def big_net(blocks: int = 12) -> ModelSpec:
    """A network with every block different (the worst case for a link's length)."""
    return ModelSpec(
        blocks=tuple(
            ConvBlock(
                filters=16 + 8 * i, kernel=(3, 5, 7)[i % 3], stride=1 + i % 2, padding=i % 4 - 1,
                activation=("gelu", "tanh", "silu", "relu")[i % 4], batch_norm=i % 2 == 0,
                pool=("max", "avg", "none")[i % 3], dropout=round(0.05 * (i % 5), 2),
            )
            for i in range(blocks)
        ),
        hidden=(512, 256, 64), dropout=0.4, activation="elu", global_pool=True,
    )  # fmt: skip


def round_trip(state: SharedState, **bases: object) -> SharedState:
    params = encode(state, **bases)  # type: ignore[arg-type]
    url = urllib.parse.urlencode(params)  # what a browser carries
    decoded = decode(dict(urllib.parse.parse_qsl(url)))
    assert decoded.problems == ()
    return decoded.state


@pytest.mark.parametrize(
    "data",
    [
        DataConfig(name="mnist"),
        DataConfig(name="shapes", image_size=48, shapes=ShapesConfig(difficulty=3)),
        DataConfig(shapes=ShapesConfig(difficulty=0, noise=0.3, rotation=90.0), num_images=1200),
        DataConfig(name="cifar10", seed=7, limit=500, val_fraction=0.2),
    ],
)
def test_every_dataset_field_round_trips(data: DataConfig) -> None:
    assert round_trip(SharedState(data=data)).data == data


def test_a_folder_dataset_is_not_shared() -> None:
    """Its path is a server path or another session's upload: a link carries neither."""
    data = DataConfig(name="folder", path="/srv/images/cats", image_size=64)
    assert encode(SharedState(data=data)) == {}
    assert "your own images" in decode({"data": "folder"}).problems[0]


@pytest.mark.parametrize(
    "model",
    [
        ModelConfig(name="resnet18", width=0.5, pretrained=False),
        ModelConfig(name="lenet5"),
        ModelConfig(name="custom", spec=big_net(3)),
        ModelConfig(name="airnet", width=1.5, flip_tta=True),  # CIFAR-10's: its mirror too
        ModelConfig(name="airnet", width=4.0, flip_tta=True, shift_tta=True),  # the long one
    ],
)
def test_every_model_round_trips(model: ModelConfig) -> None:
    state = SharedState(model=model, editor_spec=model.spec if model.name == "custom" else None)
    back = round_trip(state)
    assert back.model == model


def test_the_editor_and_the_model_in_use_are_two_networks() -> None:
    state = SharedState(model=ModelConfig(name="custom", spec=big_net(2)), editor_spec=big_net(5))
    back = round_trip(state)
    assert back.model is not None and back.model.spec == big_net(2)
    assert back.editor_spec == big_net(5)


def test_train_fields_view_and_locks_round_trip() -> None:
    base = TrainConfig(optimizer="sgd", lr=0.2, epochs=4)
    train = {"optimizer": "adam", "lr": 0.0123, "epochs": 4, "batch_size": 32, "seed": 5}
    state = SharedState(
        train=train,
        augment=False,
        view=ViewState("circle", "square", 3, "sobel y"),
        lock=frozenset({"lr", "epochs", "data"}),
        hide=frozenset({"optimizer"}),
    )
    params = encode(state, train_base=base)
    assert "epochs" not in params  # equal to the recipe: left out
    assert params["_lock"] == "data,lr,epochs" and params["_hide"] == "optimizer"
    back = decode(params).state
    assert dict(back.train) == {k: v for k, v in train.items() if k != "epochs"}
    assert back.augment is False and back.view == state.view
    assert back.lock == state.lock and back.hide == state.hide


def test_a_twelve_block_network_link_stays_short() -> None:
    spec = big_net(12)
    state = SharedState(
        data=DataConfig(name="shapes", image_size=64, shapes=ShapesConfig(difficulty=3)),
        model=ModelConfig(name="custom", spec=spec),
        editor_spec=spec,
        train={name: getattr(TrainConfig(lr=0.0314, epochs=7), name) for name in ("lr", "epochs")},
        view=ViewState("triangle", "circle", 6, "sharpen"),
        lock=frozenset({"lr", "epochs"}),
    )
    query = urllib.parse.urlencode(encode(state))
    assert len("https://lab.example.school:8501/evaluate?" + query) < 1000  # measured: ~640
    assert round_trip(state).model == state.model


@pytest.mark.parametrize(
    ("params", "part"),
    [
        ({"net": "not base64 at all!"}, "model"),
        ({"net": sharelink.pack({"blocks": [{"filters": -3}]})}, "filters"),
        ({"net": sharelink.pack({"blocks": [{}] * 40})}, "1 to 12 conv blocks"),
        ({"net": sharelink.pack({"blocks": [{"activation": "__import__"}]})}, "activation"),
        ({"net": sharelink.pack({"blocks": [{}], "hidden": [10**9]})}, "units"),
        ({"net": sharelink.pack([1, 2, 3])}, "network"),
        ({"model": "no_such_net"}, "unknown model"),
        ({"model": "resnet18", "width": "nan"}, "finite"),
        ({"model": "resnet18", "width": "99"}, "width"),
        ({"data": "../../etc"}, "unknown dataset"),
        ({"dx": sharelink.pack({"path": "/etc", "root": "/", "num_images": -1})}, "num_images"),
        ({"level": "7"}, "difficulty"),
        ({"size": "1e9"}, "size"),
        ({"lr": "-1"}, "lr"),
        ({"lr": "inf"}, "lr"),
        ({"epochs": "3.5"}, "epochs"),
        ({"optimizer": "rmsprop"}, "optimizer"),
        ({"augment": "yes"}, "augment"),
        ({"tab": "0"}, "tab"),
        ({"_lock": "lr,everything"}, "_lock"),
        ({"lr": "1" * 5000}, "longer"),
    ],
)
def test_hostile_params_give_defaults_and_a_message(params: dict[str, str], part: str) -> None:
    decoded = decode(params)
    assert any(part in p for p in decoded.problems), decoded.problems
    state = decoded.state
    assert state.model is None and state.editor_spec is None and state.data is None
    assert not state.train and state.augment is None and state.view.tab is None


def test_a_zip_bomb_is_refused_before_it_inflates() -> None:
    bomb = zlib.compress(b"[" + b"0," * 5_000_000 + b"0]", 9)
    text = sharelink.base64.urlsafe_b64encode(bomb).decode().rstrip("=")
    with pytest.raises(ValueError, match="longer|inflates"):
        sharelink.unpack(text)


def test_paths_in_a_dataset_blob_are_dropped() -> None:
    dx = sharelink.pack({"root": "/etc", "path": "/etc/passwd", "num_images": 600})
    data = decode({"data": "shapes", "dx": dx}).state.data
    assert data == DataConfig(num_images=600)


def test_unknown_params_and_other_modules_are_ignored() -> None:
    decoded = decode({"run": "20260101-x", "token": "abc", "utm_source": "mail"})
    assert decoded.problems == () and decoded.state == SharedState()


# -- locks ---------------------------------------------------------------------------------------
def lesson(**changes: object) -> Lesson:
    base = Lesson(
        lesson_id="l1",
        title="edges",
        data=DataConfig(name="digits"),
        model=ModelConfig(name="lenet5"),
        train=TrainConfig(optimizer="sgd", lr=0.05, epochs=3),
        editable=(FieldRange("lr", 0.001, 0.1), FieldRange("epochs", 1, 8)),
        limits=ClassLimits(max_epochs=5),
    )
    return dataclasses.replace(base, **changes)


def test_a_link_locks_and_hides_with_its_values() -> None:
    link = SharedState(train={"lr": 0.01}, lock=frozenset({"lr", "epochs"}), hide={"optimizer"})
    rules = rules_for(link, TrainConfig(epochs=4, optimizer="sgd"))
    assert rules.locked == {"lr": LINK, "epochs": LINK}
    assert rules.values == {"lr": 0.01, "epochs": 4, "optimizer": "sgd"}  # missing: the recipe's
    assert rules.is_locked("optimizer") and rules.hidden == {"optimizer"}
    assert rules.why("lr") == "locked by the teacher's link"


def test_the_lesson_wins_over_a_link() -> None:
    link = SharedState(
        train={"lr": 5.0, "optimizer": "adam"}, lock=frozenset({"lr"}), hide={"optimizer"}
    )
    rules = rules_for(link, TrainConfig(), lesson(), student=True)
    assert rules.locked["optimizer"] == LESSON and rules.values["optimizer"] == "sgd"
    assert "optimizer" not in rules.hidden  # a lesson's fixed field is shown, disabled
    assert rules.locked["data"] == LESSON and rules.data == DataConfig(name="digits")
    assert rules.values["lr"] == 0.1  # the link's locked 5.0 clamped into the lesson's range
    assert rules.bounds["lr"] == (0.001, 0.1)
    assert rules.bounds["epochs"] == (1, 5)  # the class limit narrows the lesson's 1..8


def test_the_teacher_and_the_single_user_lab_are_not_bound_by_the_lesson() -> None:
    rules = rules_for(SharedState(), TrainConfig(), lesson(), student=False)
    assert rules.locked == {} and rules.bounds == {} and rules.data is None


def test_the_values_a_student_form_allows_pass_the_lesson_check() -> None:
    """Whatever the locked form offers (the bounds' ends, the fixed values) the backend admits."""
    current = lesson()
    rules = rules_for(SharedState(), TrainConfig(), current, student=True)
    assert rules.train is not None and rules.data is not None and rules.model is not None
    for lr, epochs in [
        (rules.bounds["lr"][0], 1),
        (rules.bounds["lr"][1], rules.bounds["epochs"][1]),
    ]:
        train = dataclasses.replace(rules.train, lr=lr, epochs=epochs, **{
            k: v for k, v in rules.values.items() if k not in ("lr", "epochs")
        })  # fmt: skip
        from cnnlab.config import RunConfig

        cfg = RunConfig(data=rules.data, model=rules.model, train=train)
        assert _check_lesson(cfg, current) == []
