"""The typed event contract: round trips, tolerant reads, the latest-pass rule."""

import json

from cnnlab import events as ev


def test_round_trip_every_kind(tmp_path):
    path = tmp_path / "events.jsonl"
    written = [
        ev.StartEvent(epochs=2, total_steps=10, device="cpu", time=1.0),
        ev.BatchEvent(epoch=1, step=1, loss=float("nan"), acc=0.5, lr=0.1, time=2.0),
        ev.EpochEvent(epoch=1, step=5, val_acc=0.9, best=True, time=3.0),
        ev.EndEvent(status="finished", best_epoch=1, best_val_acc=0.9, time=4.0),
    ]
    ev.append_events(path, written)
    read, offset = ev.read_events(path)
    assert offset == path.stat().st_size
    assert read[0] == written[0] and read[2:] == written[2:]
    assert read[1].loss is None  # NaN is written as null, read back as "unknown"
    assert [json.loads(line)["type"] for line in path.read_text().splitlines()] == [
        "start",
        "batch",
        "epoch",
        "end",
    ]


def test_torn_damaged_and_unknown_lines_are_tolerated(tmp_path):
    path = tmp_path / "events.jsonl"
    path.write_bytes(
        b'{"type": "snapshot", "epoch": 1}\n'  # a kind this version does not know
        b"not json\n"
        b"[1, 2]\n"
        b'{"type": "batch", "step": "x", "loss": 0.5, "extra": 1}\n'
        b'{"type": "epoch", "epoch": 2, "val_a'  # torn: the writer is mid-line
    )
    events, offset = ev.read_events(path)
    assert events == [ev.BatchEvent(step=0, loss=0.5)]  # ill-typed field -> default
    ev.append_events(path, [ev.EndEvent(status="stopped")])  # ends the torn line first
    more, _ = ev.read_events(path, offset)
    assert more == [ev.EndEvent(status="stopped")]


def test_latest_pass_keeps_the_resumed_history():
    # epochs 1-4, interrupted, resumed from the checkpoint after epoch 2: 3-5 again
    epochs = [ev.EpochEvent(epoch=e, val_acc=e / 10) for e in (1, 2, 3, 4, 3, 4, 5)]
    kept = ev.latest_pass(epochs, "epoch")
    assert [e.epoch for e in kept] == [1, 2, 3, 4, 5]
    assert kept[2] is epochs[4]  # the resumed pass wins


def test_new_kinds_register_once():
    assert set(ev.EVENT_KINDS) >= {"start", "batch", "epoch", "end"}
    try:
        ev.event_kind("batch")(type("Twin", (), {}))
    except ValueError as exc:
        assert "twice" in str(exc)
    else:
        raise AssertionError("a duplicate kind was accepted")
