"""The snapshot views: Inspect's Filmstrip and Embedding, and the Train page's live filmstrip.

Everything shown is read from the run's snapshots folder (`cnnlab.watch`), cached per (run, the
snapshot steps on disk), so a live panel that refreshes every second reads a file only when a
new snapshot has been written."""

from __future__ import annotations

import numpy as np
import streamlit as st
import torch

from cnnlab import plots
from cnnlab.display import enlarge
from cnnlab.runs import get_run
from cnnlab.text import md_escape
from cnnlab.watch import frame_steps, load_plan, load_probe_images, read_features, tsne_2d
from cnnlab.watch.figures import embedding_figure, probe_picture, read_all, strip_picture
from cnnlab.watch.frames import read_error
from pages.ui.common import chart_config
from pages.ui.inspect_link import open_in_inspect
from pages.ui.view_link import landed

VIEWS = ["This image", "Filmstrip", "Embedding"]
PLAY_EVERY_S = 0.8  # seconds per snapshot while the filmstrip plays
NO_SNAPSHOTS = (
    "This run has no snapshots (an older run, or snapshots were off): train a new run to "
    "watch its feature maps and embedding change epoch by epoch."
)


@st.cache_data(show_spinner=False, max_entries=16)
def _timeline(run_id: str, steps: tuple[int, ...]):
    folder = get_run(run_id).snapshots_dir
    return load_plan(folder), read_all(folder), load_probe_images(folder)


def timeline(run_id: str):
    folder = get_run(run_id).snapshots_dir
    return _timeline(run_id, tuple(frame_steps(folder)))


def _probe_label(plan, i: int) -> str:
    return f"probe {i + 1}: {plan.class_names[plan.probe_labels[i]]} (val #{plan.probe_indices[i]})"


def filmstrip(run_id: str, key: str, live: bool = False) -> None:
    """Pick a probe, scrub the snapshots: its maps beside its predicted probabilities."""
    plan, frames, images = timeline(run_id)
    if plan is None or not frames or images is None or not plan.probe_indices:
        error = read_error(get_run(run_id).snapshots_dir)
        st.info(f"Snapshots stopped: {error.splitlines()[-1]}" if error else NO_SNAPSHOTS)
        return
    left, right = st.columns([1, 2])
    probe = left.selectbox("Probe image", range(len(plan.probe_indices)), key=f"{key}_probe",
                           format_func=lambda i: _probe_label(plan, i))  # fmt: skip
    labels = [f.label for f in frames]
    if live:
        _frame_view(plan, frames[-1], images, probe, key, labels[-1])
        return
    play, pause, _ = right.columns([1, 1, 2], vertical_alignment="bottom")
    play.button("Play", icon=":material/play_arrow:", key=f"{key}_play", on_click=_play,
                args=(key, labels, True))  # fmt: skip
    pause.button("Pause", icon=":material/pause:", key=f"{key}_pause", on_click=_play,
                 args=(key, labels, False))  # fmt: skip
    playing = bool(st.session_state.get(f"{key}_playing"))

    @st.fragment(run_every=PLAY_EVERY_S if playing else None)
    def scrub() -> None:
        ss, at = st.session_state, f"{key}_at"
        if ss.get(f"{key}_playing") and ss.get(at) in labels:  # the next snapshot, then stop
            i = labels.index(ss[at])
            if i + 1 < len(labels):
                ss[at] = labels[i + 1]
            else:
                ss[f"{key}_playing"] = False
                st.rerun()  # the whole page: redraws this fragment without its timer
        chosen = st.select_slider("Snapshot", labels, value=labels[-1], key=at)
        _frame_view(plan, frames[labels.index(chosen)], images, probe, key, chosen)

    scrub()
    with st.expander("All snapshots of this probe (top: epoch 0)"):
        st.image(strip_picture(frames, probe), caption=" · ".join(labels))


def _play(key: str, labels: list[str], on: bool) -> None:
    """Play / Pause (callbacks, before the slider is drawn): playing from the last snapshot
    starts again at the first."""
    ss = st.session_state
    ss[f"{key}_playing"] = on
    if on and ss.get(f"{key}_at", labels[-1]) == labels[-1]:
        ss[f"{key}_at"] = labels[0]


def _frame_view(plan, frame, images, probe: int, key: str, chosen: str) -> None:
    """One snapshot of one probe: the image, its maps per layer, its top probabilities."""
    cols = st.columns([1, 3, 2])
    cols[0].image(enlarge(torch.as_tensor(images[probe]), 96), caption=chosen)
    cols[1].image(probe_picture(frame, probe), caption="rows: " + ", ".join(plan.layers))
    top = np.argsort(-frame.probs[probe])[: min(5, len(plan.class_names))]
    bars = plots.probability_bars(
        [(plan.class_names[k], float(frame.probs[probe, k])) for k in top]
    )
    cols[2].plotly_chart(bars, config=chart_config("probe"), key=f"{key}_bars_{frame.step}")


def embedding(run_id: str, key: str, height: int = 480) -> None:
    """The embedding points per snapshot, animated; a clicked point is shown below."""
    plan, frames, _ = timeline(run_id)
    if plan is None or not plan.embed_indices or not frames:
        st.info(NO_SNAPSHOTS)
        return
    fig = embedding_figure(frames, plan, height)
    picked = st.plotly_chart(fig, on_select="rerun", selection_mode="points", key=f"{key}_emb",
                             config=chart_config("embedding"))  # fmt: skip
    st.caption("PCA of the penultimate-layer features of fixed validation images, each snapshot "
               "turned onto the one before; crosses are misclassified. Press ▶ to play.")  # fmt: skip
    points = (picked or {}).get("selection", {}).get("points", []) if picked else []
    if points and points[0].get("customdata"):
        index, true, pred, conf = points[0]["customdata"][:4]
        _show_point(
            run_id, int(index), plan.class_names[int(true)], plan.class_names[int(pred)], conf
        )
    if st.button("t-SNE of the latest snapshot", key=f"{key}_tsne"):
        kept = read_features(get_run(run_id).snapshots_dir)
        if kept is None:
            st.info("No features kept for t-SNE.")
        else:
            with st.spinner("t-SNE…"):
                xy = tsne_2d(kept[1])
            labels = np.asarray(plan.embed_labels)
            st.scatter_chart({"x": xy[:, 0], "y": xy[:, 1],
                              "class": [plan.class_names[k] for k in labels]},
                             x="x", y="y", color="class")  # fmt: skip


def _show_point(run_id: str, index: int, true: str, pred: str, conf: float) -> None:
    from pages.ui.common import dataset_for

    try:
        x = dataset_for(get_run(run_id).config().data).val.x[index]
    except Exception as exc:  # noqa: BLE001 - the dataset may be gone; say so
        st.warning(f"The image is not available ({md_escape(exc)}).")
        return
    st.image(enlarge(x, 128), caption=f"val #{index}: true **{md_escape(true)}**, "
             f"predicted **{md_escape(pred)}** ({conf:.0%})")  # fmt: skip
    if st.button("Open in Inspect", icon=":material/search:", key=f"emb_open_{index}"):
        open_in_inspect(run_id, index, split="val")


def inspect_view(run_id: str) -> bool:
    """Inspect's view picker; draws Filmstrip or Embedding and returns True (page stops)."""
    for name in ("filmstrip", "embedding"):  # the Learn page's links land on their view
        if landed(name):
            st.session_state.inside_view = name.capitalize()
    st.session_state.setdefault("inside_view", VIEWS[0])  # (a default too would warn)
    view = st.segmented_control("View", VIEWS, required=True, key="inside_view")
    if view == "Filmstrip":
        filmstrip(run_id, "inside_film")
    elif view == "Embedding":
        embedding(run_id, "inside_embed")
    return view != VIEWS[0]


def live_watch(run_id: str) -> None:
    """The Train page's live filmstrip and embedding of the watched run (latest snapshot)."""
    if not frame_steps(get_run(run_id).snapshots_dir):
        return
    with st.expander("Inside the network (snapshots)", expanded=True):
        filmstrip(run_id, "live_film", live=True)
        embedding(run_id, "live_embed", height=320)
