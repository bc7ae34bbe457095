"""The choices made in the suspects gallery -> a new dataset version (a label patch, the change
listed), a one-click retrain on it through the job manager, and the two runs compared."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import streamlit as st

from cnnlab.classroom.lesson import PolicyError
from cnnlab.config import LabelPatch
from cnnlab.data.patch import changes_frame, patch_dict, summary
from cnnlab.mislabels.rank import Suspects
from cnnlab.mislabels.versions import retrain_config, retrained_from, version_patch
from cnnlab.runs import Run, get_run
from cnnlab.runs.loading import LoadedModel
from cnnlab.text import md_escape
from pages.ui.submit import submit_run

RUNS_PAGE = "pages/runs.py"


def choice_key(run_id: str, index: int) -> str:
    """The session key of one suspect's keep / drop / relabel choice."""
    return f"ml_{run_id}_{index}"


def chosen(run_id: str, table: pd.DataFrame) -> tuple[dict[int, int], set[int]]:
    """({position: new class}, {positions dropped}) from the gallery's selectboxes."""
    relabel, drop = {}, set()
    for index in table["index"]:
        value = st.session_state.get(choice_key(run_id, int(index)), "keep")
        if value == "drop":
            drop.add(int(index))
        elif value != "keep":
            relabel[int(index)] = int(value)
    return relabel, drop


def version_panel(loaded: LoadedModel, run: Run, labels: np.ndarray, suspects: Suspects) -> None:
    """The new version's change list, its download, Retrain, and the runs made from it."""
    cfg, names = loaded.config, loaded.class_names
    if not cfg.data.patch.empty:
        st.info(
            f"This run trained on a label version: **{md_escape(cfg.data.patch.name)}**; "
            "a new version adds your choices to it.",
            icon=":material/layers:",
        )
    relabel, drop = chosen(run.run_id, suspects.table)
    st.markdown("**New version of the training labels**")
    if not relabel and not drop:
        st.caption("Choose *relabel* or *drop* under the images above to make one.")
        _retrained(run)
        return
    patch = version_patch(cfg, labels, relabel, drop, run.run_id)
    st.dataframe(changes_frame(patch, names), hide_index=True, key="ml_changes")
    st.caption(
        f"{md_escape(summary(patch))} compared with the original labels ('image' = position in "
        "the original training split). The dataset's files stay as they are: the version is "
        "a label patch saved in the new run's config."
    )
    left, right = st.columns(2)
    if left.button("Retrain on this version", icon=":material/replay:", type="primary"):
        _retrain(loaded, patch, run.run_id)
    right.download_button(
        "Download the label patch",
        json.dumps(patch_dict(patch), indent=1),
        file_name=f"label-patch-{run.run_id}.json",
        mime="application/json",
        icon=":material/download:",
        help="For the CLI: cnnlab train --config RUN --patch FILE.json",
    )
    _retrained(run)


def _retrain(loaded: LoadedModel, patch: LabelPatch, run_id: str) -> None:
    """The same config on the new labels, queued through the job manager like Train's runs."""
    cfg = retrain_config(loaded.config, patch, run_id)
    try:
        new_id, _ = submit_run(cfg)  # a student's rules apply; a double click starts one run
    except (PolicyError, OSError) as exc:
        st.error(f"The retrain could not start: {md_escape(exc)}", icon=":material/block:")
        return
    st.session_state.run_id = new_id  # the sidebar shows it training
    st.success(
        f"Run **{new_id}** is training on the new version; it is listed below with this one.",
        icon=":material/replay:",
    )
    st.page_link("pages/train.py", label="Watch it train", icon=":material/monitoring:")


def _retrained(run: Run) -> None:
    """The runs trained on versions of this run's labels, beside it, and the Compare link."""
    children = retrained_from(run.run_id, run.path.parent)
    if not children:
        return
    rows = [_row(run, "this run")] + [
        _row(get_run(c, run.path.parent), "retrained") for c in children
    ]
    st.markdown("**Retrained on a new version**")
    percent = st.column_config.NumberColumn(format="percent")
    columns = {"test accuracy": percent, "best val accuracy": percent}
    st.dataframe(pd.DataFrame(rows), hide_index=True, column_config=columns, key="ml_compare_table")
    if st.button("Compare on the Runs page", icon=":material/compare_arrows:", key="ml_compare"):
        st.session_state.runs_compare = [run.run_id, children[0]]
        st.switch_page(RUNS_PAGE)


def _row(run: Run, what: str) -> dict[str, object]:
    status, metrics = run.status(), run.metrics()
    return {
        "run": run.run_id,
        "": what,
        "training labels": summary(run.config().data.patch),
        "status": status.status.value,
        "test accuracy": metrics.get("test_acc"),
        "best val accuracy": status.best_val_acc,
    }
