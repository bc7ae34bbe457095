"""Evaluate's "Find mislabelled images": cross-train in the background (`cnnlab.mislabels.job`),
then a ranked gallery of suspect training images, each with keep / relabel / drop; the choices
become a new dataset version and a retrain in `pages/ui/mislabels_version.py`."""

from __future__ import annotations

import streamlit as st
import torch

from cnnlab.display import enlarge
from cnnlab.mislabels import cache, job
from cnnlab.mislabels.crossval import MAX_FOLDS, MIN_FOLDS, OutOfSample
from cnnlab.mislabels.rank import Suspects, rank_suspects
from cnnlab.runs import AccessDenied, Run, get_run
from cnnlab.runs.loading import LoadedModel
from cnnlab.text import md_escape
from pages.ui import common
from pages.ui.identity import current_identity
from pages.ui.mislabels_version import choice_key, version_panel

COLS = 6  # tiles per row
THUMB = 72  # pixels: small training images enlarged to about this
SHOWN_DEFAULT, SHOWN_MAX = 12, 60  # suspects in the gallery


def mislabel_section(loaded: LoadedModel, run: Run) -> None:
    """The whole section in an expander (kept open while the user works in it)."""
    with st.expander("Find mislabelled images", icon=":material/label_off:"):
        st.caption(
            "Models trained with this run's recipe, each on all but one part (fold) of the "
            "training images, score the part they never saw; cleanlab's confident learning then "
            "ranks the training images whose given label those held-out models doubt most."
        )
        names = tuple(loaded.class_names)
        state = job.read_job(run)
        if state.running:
            _progress(run)
            return
        path = run.mislabels_path
        found = _found(run.run_id, path.stat().st_mtime if path.is_file() else 0.0, names)
        _controls(loaded, run, state, found is not None)
        if found is None:
            return
        oos, suspects = found
        _gallery(loaded, suspects)
        version_panel(loaded, run, oos.labels, suspects)


@st.cache_data(show_spinner="Ranking the suspects…", max_entries=4)
def _found(
    run_id: str, version: float, names: tuple[str, ...]
) -> tuple[OutOfSample, Suspects] | None:
    """The cached probabilities and their ranking, or None; `version` (the cache file's mtime)
    keys it, so a new search shows at once."""
    oos = cache.load(get_run(run_id))
    return None if oos is None else (oos, rank_suspects(oos, list(names)))


def _controls(loaded: LoadedModel, run: Run, state: job.JobState, cached: bool) -> None:
    epochs_run = loaded.config.train.epochs
    left, mid, right = st.columns([1, 1, 2], vertical_alignment="bottom")
    folds = left.number_input("Folds", MIN_FOLDS, MAX_FOLDS, 4, key="ml_folds")
    epochs = mid.number_input(
        "Epochs per fold", 0, 10_000, 0, key="ml_epochs", help=f"0 = the run's own ({epochs_run})"
    )
    seconds = run.metrics().get("train_time_s")
    per_epoch = float(seconds or 0) / max(1, epochs_run)  # seconds of the run's own training
    cost = f" (about {folds * per_epoch * (epochs or epochs_run):.0f} s)" if seconds else ""
    label = "Search again" if cached else "Find suspects"
    if right.button(label, icon=":material/search:", key="ml_start"):
        try:
            job.start_job(run, int(folds), int(epochs), actor=current_identity())
        except (AccessDenied, job.JobBusy) as exc:
            st.error(md_escape(exc), icon=":material/block:")
        else:
            st.rerun()
    right.caption(f"{folds} trainings of this run's recipe{cost}")
    if state.state in ("failed", "stopped", "interrupted"):
        st.warning(f"The last search {state.state}: {md_escape(state.message)}")


@st.fragment(run_every=1.0)
def _progress(run: Run) -> None:
    """The running job's progress, re-read every second; the whole page reruns when it ends."""
    state = job.read_job(run)
    if not state.running:
        st.rerun(scope="app")
    st.progress(min(1.0, state.fraction), text=md_escape(state.message or "starting"))
    if st.button("Stop", icon=":material/stop:", key="ml_stop"):
        try:
            job.stop_job(run, actor=current_identity())
        except AccessDenied as exc:
            st.error(md_escape(exc))


def _gallery(loaded: LoadedModel, suspects: Suspects) -> None:
    run_id = loaded.run_id
    table = suspects.table
    cols = st.columns(3)
    cols[0].metric("Held-out accuracy", f"{suspects.accuracy:.1%}", border=True)
    cols[1].metric("Flagged by cleanlab", f"{suspects.flagged:,}", border=True)
    cols[2].metric("Training images", f"{len(table):,}", border=True)
    most = min(SHOWN_MAX, len(table))
    shown = (
        most
        if most < 2
        else st.slider("Suspects shown", 1, most, min(most, SHOWN_DEFAULT), key="ml_shown")
    )
    train_x = common.dataset_for(loaded.config.data).train.x  # uint8 (N, C, H, W), read-only
    names = loaded.class_names
    rows = table.head(shown).to_dict("records")
    for start in range(0, len(rows), COLS):
        for column, row in zip(st.columns(COLS), rows[start : start + COLS], strict=False):
            with column:
                _tile(run_id, row, train_x, names)
    st.caption(
        "Most suspect first. Under each image: its given label, what the held-out model "
        "predicts, and that model's probability for each (out-of-sample: it never trained on "
        "the image). ⚑ = cleanlab's filter counts it as likely mislabelled."
    )


def _tile(run_id: str, row: dict, train_x: torch.Tensor, names: list[str]) -> None:
    index, given, predicted = (
        int(row["index"]),
        int(row["given_class"]),
        int(row["predicted_class"]),
    )
    flag = " ⚑" if row["flagged"] else ""
    st.image(
        enlarge(train_x[index], THUMB),
        caption=md_escape(
            f"#{index}{flag} given {names[given]} ({row['given_prob']:.0%}) · "
            f"predicted {names[predicted]} ({row['predicted_prob']:.0%})"
        ),
    )
    others = [k for k in range(len(names)) if k not in (given, predicted)]
    relabel = ([predicted] if predicted != given else []) + others
    options = ["keep", "drop", *(str(k) for k in relabel)]
    words = {"keep": f"keep {names[given]}", "drop": "drop"}
    st.selectbox(
        "Label",
        options,
        key=choice_key(run_id, index),
        label_visibility="collapsed",
        format_func=lambda o: words.get(o) or f"relabel → {names[int(o)]}",
    )
