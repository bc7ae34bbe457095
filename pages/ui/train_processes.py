"""The Train form's "processes" option: one run on several GPUs of this machine (DDP through
torchrun: cnnlab/distributed.py). Drawn only where the machine has more than one GPU."""

from __future__ import annotations

import streamlit as st

from cnnlab.distributed import gpu_count

KEY = "tr_nproc"


def processes_widget() -> None:
    """A number input (1 .. GPUs) inside the form, on a machine with several GPUs only."""
    count = gpu_count()
    if count < 2:
        return
    tip = (
        f"train this run on up to {count} GPUs at once, one process each; the batch size is "
        "split between them, so the result matches one GPU's"
    )
    st.number_input("Processes (GPUs)", 1, count, value=1, step=1, key=KEY, help=tip)


def processes() -> dict[str, int]:
    """The TrainConfig field to submit: what is on screen, else 1 (a last run's or an imported
    config's nproc never carries over to a machine without the GPUs for it)."""
    return {"nproc": int(st.session_state.get(KEY, 1)) if gpu_count() > 1 else 1}
