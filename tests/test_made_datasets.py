"""Datasets made in the browser (cnnlab.data.made*): bad names refused with a message and nothing
written outside the dataset folder; add/move/delete/rename; caps; two writers at once; the zip
round trip through the Data page's reader; training through load_dataset; the class dataset."""

from __future__ import annotations

import io
import multiprocessing
import threading
import zipfile
from pathlib import Path

import pytest
from PIL import Image

from cnnlab.classroom import class_dataset
from cnnlab.classroom.identity import Identity
from cnnlab.data import load_dataset, made
from cnnlab.data import made_samples as ms
from cnnlab.data.archive import read_zip_images
from cnnlab.data.made_burst import BurstBuffer
from cnnlab.data.made_names import MadeError
from cnnlab.runs.access import AccessDenied

ANN = Identity("s-ann1", "Ann")
BOB = Identity("s-bob2", "Bob")
TEACHER = Identity("teacher", "Ms T", "teacher")


@pytest.fixture
def root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("CNNLAB_DATASETS", str(tmp_path / "made"))
    return made.made_root()


def square(rgb: tuple[int, int, int], size: tuple[int, int] = (40, 30)) -> Image.Image:
    return Image.new("RGB", size, rgb)


def png(img: Image.Image) -> bytes:
    out = io.BytesIO()
    img.save(out, format="PNG")
    return out.getvalue()


def tree(folder: Path) -> set[str]:
    return {str(p.relative_to(folder)) for p in folder.rglob("*")}


BAD_NAMES = [
    "", "   ", "../x", "a/b", "a\\b", ".", "..", ".hidden", "CON", "nul", "Com1", "lpt9.txt",
    "cat\x00dog", "zero\u200bwidth", "dots...", "x" * 41, "a:b", "what?", "<b>",
    "train", "TEST", "__MACOSX", 42,
]  # fmt: skip


@pytest.mark.parametrize("name", BAD_NAMES)
def test_bad_class_names_are_refused_and_write_nothing(root: Path, name: object) -> None:
    ds = made.create_dataset("set", None)
    outside = tree(root.parent)
    with pytest.raises(MadeError) as err:
        made.add_class(ds, name, None)  # type: ignore[arg-type]
    assert len(str(err.value)) > 20  # a sentence saying what is wrong
    assert tree(root.parent) == outside
    assert made.classes(ds) == []


@pytest.mark.parametrize("name", ["../x", "a/b", "..", "CON", "nul\x00", ""])
def test_bad_dataset_names_are_refused(root: Path, name: str) -> None:
    with pytest.raises(MadeError):
        made.create_dataset(name, None)
    assert not root.exists() or [p.name for p in root.iterdir()] in ([], [".lock"])


def test_names_trimmed_unicode_allowed_duplicates_refused(root: Path) -> None:
    ds = made.create_dataset("Pets", None)
    assert made.add_class(ds, "  thumbs   up ", None) == "thumbs up"
    assert made.add_class(ds, "tab\there\n", None) == "tab here"  # whitespace is one space
    assert made.add_class(ds, "café ☕", None) == "café ☕"
    assert made.add_class(ds, "Ünïcödé 猫", None) == "Ünïcödé 猫"
    for same in ("THUMBS UP", "ｔｈｕｍｂｓ ｕｐ", "cafe\u0301 ☕"):  # case, width, NFC forms
        with pytest.raises(MadeError, match="already"):
            made.add_class(ds, same, None)
    with pytest.raises(MadeError, match="exists already"):
        made.create_dataset("PETS", None)
    assert [c.name for c in made.classes(ds)] == sorted(
        ["thumbs up", "tab here", "café ☕", "Ünïcödé 猫"]
    )


def test_add_move_delete_rename_remove(root: Path) -> None:
    ds = made.create_dataset("toys", ANN)  # Ann's own dataset: she may do anything in it
    made.add_class(ds, "red", ANN)
    made.add_class(ds, "blue", ANN)
    result = ms.add_samples(ds, "red", [square((255, 0, 0)), png(square((250, 0, 0)))], ANN)
    assert len(result.added) == 2 and not result.refused
    names = [s.name for s in ms.samples(ds, "red")]
    assert all(n.startswith("s-ann1--") for n in names)
    assert ms.move_samples(ds, "red", "blue", names[:1], ANN) == 1
    assert {c.name: c.count for c in made.classes(ds)} == {"blue": 1, "red": 1}
    assert ms.delete_samples(ds, "red", names[1:], None) == 1
    with pytest.raises(AccessDenied):
        made.rename_class(ds, "blue", "Azure", BOB)
    assert made.rename_class(ds, "blue", "Azure", ANN) == "Azure"
    assert [s.name for s in ms.samples(ds, "Azure")] == names[:1]
    with pytest.raises(MadeError, match="no class"):
        ms.add_samples(ds, "blue", [square((0, 0, 255))], None)
    assert made.remove_class(ds, "Azure", None) == 1
    assert [c.name for c in made.classes(ds)] == ["red"]
    with pytest.raises(MadeError):
        ms.delete_samples(ds, "red", ["../../.made.json"], None)
    assert (ds.path / made.MANIFEST).is_file()


def test_not_an_image_is_refused_with_its_reason(root: Path) -> None:
    ds = made.create_dataset("toys", None)
    made.add_class(ds, "red", None)
    result = ms.add_samples(
        ds, "red", [("notes.png", b"hello, not a png"), square((9, 9, 9))], None
    )
    assert len(result.added) == 1
    assert result.refused[0][0] == "notes.png" and "image" in result.refused[0][1].lower()
    assert "not images" in result.message
    stored = ms.samples(ds, "red")
    assert len(stored) == 1 and Image.open(stored[0].path).format == "PNG"


def test_burst_and_class_caps_say_so(root: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    ds = made.create_dataset("burst", None)
    made.add_class(ds, "a", None)
    frames = [square((i % 256, 0, 0), (8, 8)) for i in range(1000)]
    result = ms.add_samples(ds, "a", frames, None)
    assert len(result.added) == ms.MAX_BURST and result.left_out == 1000 - ms.MAX_BURST
    assert f"at most {ms.MAX_BURST}" in result.message
    monkeypatch.setattr(ms, "MAX_PER_CLASS", ms.MAX_BURST + 5)
    result = ms.add_samples(ds, "a", frames[:10], None)
    assert len(result.added) == 5 and "a class holds at most" in result.message
    with pytest.raises(MadeError, match="Nothing was added"):
        ms.add_samples(ds, "a", frames[:3], None)


def test_burst_buffer_keeps_5_a_second_up_to_its_capacity() -> None:
    buffer = BurstBuffer(capacity=10, interval_s=0.2)
    assert not buffer.offer(lambda: square((1, 2, 3)), now=0.0)  # not recording
    buffer.set_recording(True)
    kept = [buffer.offer(lambda: square((1, 2, 3)), now=t * 0.05) for t in range(400)]  # 20 s
    assert sum(kept) == 10 and buffer.full and not buffer.recording
    assert kept[:5] == [True, False, False, False, True]  # one frame per 0.2 s
    assert len(buffer.take()) == 10 and buffer.count() == 0 and not buffer.full


@pytest.mark.parametrize("stop", ["add", "clear", "record off"])
def test_a_frame_converted_while_the_burst_is_added_is_not_left_behind(stop: str) -> None:
    """The video thread converts a frame while the page adds the burst (or clears it, or turns
    Record off): that frame must not stay in the emptied buffer as the next burst's first."""
    buffer = BurstBuffer(capacity=10, interval_s=0.2)
    buffer.set_recording(True)
    assert buffer.offer(lambda: square((1, 2, 3)), now=0.0)

    def converting() -> Image.Image:  # the page's button callback runs meanwhile
        buffer.set_recording(False)
        if stop != "record off":
            assert len(buffer.take()) == 1
        return square((4, 5, 6))

    assert not buffer.offer(converting, now=1.0)
    assert buffer.count() == (1 if stop == "record off" else 0)
    assert not buffer.offer(lambda: square((7, 8, 9)), now=2.0)  # still off
    buffer.set_recording(True)  # the next burst starts clean and records again
    assert buffer.offer(lambda: square((7, 8, 9)), now=3.0)


def _add_many(args: tuple[str, str, int]) -> int:
    name, user, count = args
    ds = made.open_dataset(name)
    who = Identity(user, user)
    added = 0
    for i in range(0, count, 20):  # like a burst every few seconds
        images = [square((i % 256, 3, 7), (16, 16)) for _ in range(20)]
        added += len(ms.add_samples(ds, "a", images, who).added)
    return added


def test_two_processes_adding_at_once_lose_nothing(root: Path) -> None:
    ds = made.set_shared(made.create_dataset("busy", None), True)  # two students add to it
    made.add_class(ds, "a", None)
    with multiprocessing.get_context("spawn").Pool(2) as pool:
        added = pool.map(_add_many, [("busy", "s-one", 200), ("busy", "s-two", 200)])
    assert added == [200, 200]
    files = ms.samples(ds, "a")
    assert len(files) == 400 and len({f.name for f in files}) == 400
    for f in files:
        with Image.open(f.path) as img:
            img.verify()  # a whole PNG, never half of one
    assert {u: n for u, (_, n) in ms.contributors(ds).items()} == {"s-one": 200, "s-two": 200}
    assert not [p for p in ds.path.rglob(".*.tmp")]


def test_two_threads_adding_and_a_rename_at_once(root: Path) -> None:
    ds = made.set_shared(made.create_dataset("threads", None), True)
    made.add_class(ds, "a", None)
    made.add_class(ds, "b", None)

    def renames() -> None:
        for i in range(30):  # b <-> c while the adds run: every rename is one atomic step
            made.rename_class(ds, "b" if i % 2 == 0 else "c", "c" if i % 2 == 0 else "b", None)

    users = ("s-x", "s-y")
    threads = [threading.Thread(target=_add_many, args=(("threads", u, 100),)) for u in users]
    threads.append(threading.Thread(target=renames))
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert {c.name: c.count for c in made.classes(ds)} == {"a": 200, "b": 0}


def test_zip_round_trip_through_the_zip_reader(root: Path) -> None:
    ds = made.create_dataset("zipme", None)
    for name, rgb in (("rouge é", (255, 0, 0)), ("blue", (0, 0, 255))):
        made.add_class(ds, name, None)
        ms.add_samples(ds, name, [square(rgb) for _ in range(4)], None)
    data = ms.zip_bytes(ds)
    members = dict(read_zip_images(io.BytesIO(data)))
    assert len(members) == 8
    assert {m.split("/")[0] for m in members} == {"rouge é", "blue"}
    assert all(Image.open(io.BytesIO(b)).size == (40, 30) for b in members.values())
    assert zipfile.ZipFile(io.BytesIO(data)).testzip() is None


def test_made_dataset_trains_at_once_and_sees_new_samples(root: Path) -> None:
    ds = made.create_dataset("train me", None)
    for name, rgb in (("red", (230, 20, 20)), ("blue", (20, 20, 230))):
        made.add_class(ds, name, None)
        ms.add_samples(ds, name, [square(rgb, (24, 24)) for _ in range(20)], None)
    cfg = made.data_config(ds, image_size=16)
    loaded = load_dataset(cfg)
    assert loaded.class_names == ["blue", "red"]
    assert len(loaded.train) + len(loaded.val) + len(loaded.test) == 40
    ms.add_samples(ds, "red", [square((200, 0, 0), (24, 24))], None)  # the decode cache must see it
    again = load_dataset(cfg)
    assert len(again.train) + len(again.val) + len(again.test) == 41

    from cnnlab.cli import EXIT_OK, main
    from cnnlab.runs import latest_run

    args = ["train", "--dataset", "folder", "--path", cfg.path, "--image-size", "16"]
    assert main([*args, "--epochs", "1", "--threads", "1", "--quiet"]) == EXIT_OK
    assert latest_run() is not None  # a finished run of the made dataset


def test_the_suggested_first_run_learns_a_small_made_dataset(root: Path) -> None:
    """The folder recipe's 10 epochs of 64 are ~1 step per epoch here and leave a model at
    chance on the test split; the builder's suggestion (batches of 16, ~120 steps) learns it."""
    import random

    from cnnlab.cli import EXIT_OK, main
    from cnnlab.runs import get_run, latest_run

    ds = made.create_dataset("two colours", None)
    rng = random.Random(0)
    for name, rgb in (("red", (220, 30, 30)), ("green", (30, 200, 40))):
        made.add_class(ds, name, None)
        shots = [
            square(tuple(min(255, c + rng.randint(-30, 30)) for c in rgb), (24, 24))
            for _ in range(20)
        ]
        ms.add_samples(ds, name, shots, None)
    suggestion = made.train_suggestion(ds)
    assert suggestion["batch_size"] == 16 and 10 <= suggestion["epochs"] <= 60
    steps = suggestion["epochs"] * -(-28 // suggestion["batch_size"])  # ~70% of 40 train images
    assert steps >= made.MIN_STEPS
    cfg = made.data_config(ds, image_size=16)
    args = [
        "train",
        "--dataset",
        "folder",
        "--path",
        cfg.path,
        "--image-size",
        "16",
        "--threads",
        "1",
    ]
    fields = ["--batch-size", "16", "--epochs", str(suggestion["epochs"])]
    assert main([*args, *fields, "--quiet"]) == EXIT_OK
    assert get_run(latest_run()).metrics()["test_acc"] >= 0.9


def test_training_refuses_empty_class_and_one_class(root: Path) -> None:
    ds = made.create_dataset("half", None)
    made.add_class(ds, "only", None)
    ms.add_samples(ds, "only", [square((1, 1, 1)) for _ in range(5)], None)
    with pytest.raises(MadeError, match="at least 2"):
        made.check_trainable(ds)
    made.add_class(ds, "empty", None)
    with pytest.raises(MadeError, match="class empty has no samples: add some or remove it"):
        made.check_trainable(ds)


def test_class_dataset_contributors_and_permissions(root: Path, tmp_path: Path) -> None:
    state = tmp_path / "classroom"
    ds = made.create_dataset("class", TEACHER)
    made.add_class(ds, "cat", TEACHER)
    with pytest.raises(AccessDenied):
        ms.add_samples(ds, "cat", [square((1, 2, 3))], ANN)  # not shared yet
    with pytest.raises(AccessDenied):
        class_dataset.set_class_dataset(ds, state, ANN)
    ds = class_dataset.set_class_dataset(ds, state, TEACHER)
    assert class_dataset.class_dataset(state) == ds and ds.shared
    assert made.list_datasets(BOB) == [ds]
    ann = ms.add_samples(ds, "cat", [square((1, 2, 3)) for _ in range(3)], ANN).added
    bob = ms.add_samples(ds, "cat", [square((3, 2, 1)) for _ in range(2)], BOB).added
    with pytest.raises(AccessDenied):
        ms.delete_samples(ds, "cat", [bob[0]], ANN)
    with pytest.raises(AccessDenied):
        made.add_class(ds, "dog", ANN)
    with pytest.raises(AccessDenied):
        ms.remove_contributor(ds, "s-bob2", ANN)
    assert ms.delete_samples(ds, "cat", [ann[0]], ANN) == 1
    assert ms.contributors(ds) == {"s-ann1": ("Ann", 2), "s-bob2": ("Bob", 2)}
    assert ms.remove_contributor(ds, "s-bob2", TEACHER) == 2
    assert ms.contributors(ds) == {"s-ann1": ("Ann", 2)}
    other = made.create_dataset("other", TEACHER)
    class_dataset.set_class_dataset(other, state, TEACHER)
    assert not made.open_dataset("class").shared and made.list_datasets(BOB) == [
        made.open_dataset("other")
    ]
