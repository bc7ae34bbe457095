"""Evaluate: how a trained run does on its test images — scores, confusion matrix, worst mistakes.

Evaluating takes a forward pass over the whole test split, so the report is cached per run and
weights file version. A confusion cell is chosen by clicking the heat map, clicking a row of the
most-confused table, or with the two selectboxes; the clicks only set the selectboxes' state.
Every gallery image has a "#index" button that opens it in Inspect (`pages/ui/evaluate_gallery.py`).
"""

from __future__ import annotations

from functools import partial

import streamlit as st

from cnnlab import plots
from cnnlab.data import DatasetUnavailable
from cnnlab.display import clickable_cells
from cnnlab.evaluate import EvalReport, evaluate, highest_loss, misclassified
from cnnlab.runs import get_run, run_history
from cnnlab.runs.evaluation import ReportView, report_view
from cnnlab.text import md_escape
from pages.ui import common, mislabels, run_pick, share
from pages.ui.curves_views import curves_section
from pages.ui.evaluate_gallery import grad_cams, loss_tiles, plain_tiles, show_tiles
from pages.ui.report_view import report_section

GALLERY_MAX = 40  # images shown for one confusion cell (most confident first)
WORST_K = 8  # highest-loss images shown
SCORE = st.column_config.NumberColumn(format="%.3f")
SCORES = {"precision": SCORE, "recall": SCORE, "f1": SCORE}
CHART = common.chart_config("training curves")
LOSS_HELP = "Mean cross-entropy on the test images, in nats (lower is better)."
F1_HELP = "F1 averaged over classes, each class counting equally."


@st.cache_data(show_spinner="Evaluating on the test set…", max_entries=8)
def test_report(run_id: str, runs_dir: str, weights_version: float) -> EvalReport:
    """The run's test-split report; runs_dir and weights_version only key the cache."""
    loaded = common.loaded_model(run_id)
    dataset = common.dataset_for(loaded.config.data)
    return evaluate(
        loaded.model,
        dataset.test,
        loaded.class_names,
        batch_size=loaded.config.train.eval_batch_size,
    )


def pick_cell(true_name: str, pred_name: str) -> None:
    st.session_state.evaluate_true, st.session_state.evaluate_pred = true_name, pred_name


def on_matrix_click() -> None:
    points = st.session_state.evaluate_matrix.selection.points
    if points:  # one point per cell, row-major: index = true * K + predicted (names are escaped)
        true, pred = divmod(int(points[0]["point_index"]), len(st.session_state.evaluate_names))
        pick_cell(st.session_state.evaluate_names[true], st.session_state.evaluate_names[pred])


def on_pair_click(view: ReportView) -> None:
    rows = st.session_state.evaluate_pairs.selection.rows  # the table shows view.pairs as is
    if rows:
        pick_cell(*view.pair_names[rows[0]])


common.ensure_app_shell()  # a deep link on a fresh server still goes through app.py
st.title("Evaluate")
share_slot, _ = share.begin()  # a link's confusion cell (checked against the run's classes below)
loaded = run_pick.pick_trained_run("evaluate_run")
run = get_run(loaded.run_id)
try:
    report = test_report(loaded.run_id, str(run.path.parent), run.weights_version())
    test_x = common.dataset_for(loaded.config.data).test.x  # uint8 (N, C, H, W), read-only
except (DatasetUnavailable, ValueError) as exc:
    st.error(
        f"Cannot evaluate this run on its test images: {md_escape(exc)}", icon=":material/error:"
    )
    st.stop()
view = report_view(report)
names = view.class_names
if not {st.session_state.get("evaluate_true"), st.session_state.get("evaluate_pred")} <= set(names):
    pick_cell(*view.worst_pair())  # start at the worst mix-up

cols = st.columns(4)
cols[0].metric("Test accuracy", f"{report.accuracy:.2%}", border=True)
cols[1].metric("Test loss", f"{report.loss:.4f}", border=True, help=LOSS_HELP)
cols[2].metric("Macro F1", f"{view.macro_f1:.3f}", border=True, help=F1_HELP)
cols[3].metric("Test images", f"{len(report.labels):,}", border=True)
report_section(run, report, test_x)  # diagnosis, calibration, HTML/Markdown downloads

matrix_col, scores_col = st.columns([3, 2], gap="large")
with matrix_col:
    st.subheader("Confusion matrix")
    normalized = st.toggle("Row-normalised (share of each true class)", key="evaluate_normalized")
    st.session_state.evaluate_names = list(names)  # for on_matrix_click
    fig = clickable_cells(plots.confusion_heatmap(report.confusion, names, normalized))
    st.plotly_chart(
        fig,
        key="evaluate_matrix",
        on_select=on_matrix_click,
        selection_mode="points",
        config=common.chart_config("confusion matrix"),
    )
    st.caption(
        "Rows are the true classes, columns the predictions; the diagonal is correct. "
        "Click a cell to see its images below."
    )
with scores_col:
    st.subheader("Per-class scores")
    st.dataframe(view.class_scores, hide_index=True, column_config=SCORES)
    st.dataframe(view.averages, hide_index=True, column_config=SCORES)
    st.caption(
        "Precision: of the images predicted as a class, the share that are it. Recall: of "
        "a class's images, the share found. Support: test images of the class. Click a "
        "column header to sort."
    )

st.subheader("Images of one cell")
left, right, _ = st.columns([1, 1, 2])
true_name = left.selectbox("True class", names, key="evaluate_true")
pred_name = right.selectbox("Predicted class", names, key="evaluate_pred")
cell = view.cell(true_name, pred_name)  # most confident first
idx = cell.indices
what = (
    "correctly classified" if true_name == pred_name else f"predicted as **{md_escape(pred_name)}**"
)
st.markdown(
    f"**{len(idx)}** test images of class **{md_escape(true_name)}** {what}"
    + (f" — the {GALLERY_MAX} most confident shown" if len(idx) > GALLERY_MAX else "")
)
if len(idx):
    shown = idx[:GALLERY_MAX]
    chances = [f"{prob:.0%}" for prob in cell.probs[:GALLERY_MAX]]
    show_tiles(loaded.run_id, plain_tiles(test_x, shown, chances), cols=10, key="evaluate_cell")
    st.caption(
        f"Under each image: the probability the network gave to **{md_escape(pred_name)}**. "
        "Click an image's **#number** to open it in Inspect."
    )
wrong = misclassified(report)  # most confident mistakes first
with st.expander(f"All misclassified test images: {len(wrong):,}", icon=":material/error:"):
    shown = wrong[:GALLERY_MAX]
    says = [f"{names[report.labels[i]]} → {names[report.preds[i]]}" for i in shown]
    show_tiles(loaded.run_id, plain_tiles(test_x, shown, says), cols=10, key="evaluate_wrong")
    st.caption(f"True → predicted; the {GALLERY_MAX} most confident mistakes at most.")

pairs_col, worst_col = st.columns([2, 3], gap="large")
with pairs_col:
    st.subheader("Most confused pairs")
    if len(view.pairs):
        share_col = st.column_config.NumberColumn("share of true", format="percent")
        st.dataframe(
            view.pairs,
            hide_index=True,
            key="evaluate_pairs",
            selection_mode="single-row",
            on_select=partial(on_pair_click, view),
            column_config={"share_of_true": share_col},
        )
        st.caption("Select a row to see its images above.")
    else:
        st.success("No mistakes on the test set.")
with worst_col:
    st.subheader("Highest-loss images")
    worst = highest_loss(report, k=WORST_K)  # index, true, predicted, confidence, loss
    indices, preds = tuple(worst["index"]), tuple(report.preds[worst["index"]].tolist())
    layer, heats = grad_cams(loaded.run_id, run.weights_version(), indices, preds)  # (N, H, W)
    tiles = loss_tiles(test_x, worst, heats)
    show_tiles(loaded.run_id, tiles, cols=4, key="evaluate_worst")
    st.caption(
        "The test images the network got most wrong, each beside its Grad-CAM for the predicted "
        f"class at {layer} (warm = what raised that score): true → predicted (the network's probability for "
        "it), cross-entropy loss in nats. Click **#number** to inspect one."
    )

mislabels.mislabel_section(loaded, run)  # suspects gallery, new version, retrain
st.subheader("Training curves")
epochs = run_history(run).epochs  # the latest pass, as on the Runs page
st.plotly_chart(plots.training_curves(epochs), config=CHART, key="evaluate_curves")
curves_section(run, list(names))
share.end(share_slot)
