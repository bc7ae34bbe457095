"""AppTest: the Train form's "Processes (GPUs)" option appears only with several GPUs, and the
submitted run asks for what it shows (the job then goes through torchrun: test_distributed.py)."""

from __future__ import annotations

import pytest

import pages.ui.train_form as train_form
import pages.ui.train_processes as train_processes
from tests.test_app_train_runs import open_page

LABEL = "Processes (GPUs)"


@pytest.mark.parametrize("gpus, typed, expected", [(0, None, 1), (4, 3, 3)])
def test_processes_option_only_with_several_gpus(
    monkeypatch: pytest.MonkeyPatch, gpus: int, typed: int | None, expected: int
) -> None:
    submitted = []
    monkeypatch.setattr(train_processes, "gpu_count", lambda: gpus)
    monkeypatch.setattr(train_form, "submit", submitted.append)  # no job: just the config
    at = open_page("train")
    shown = [w for w in at.number_input if w.label == LABEL]
    assert len(shown) == (1 if gpus > 1 else 0)
    if typed is not None:
        shown[0].set_value(typed)
    at.button(key="train_submit").click()
    at.run()
    assert not at.exception, at.exception
    assert [cfg.train.nproc for cfg in submitted] == [expected]
