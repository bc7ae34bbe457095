"""Train: hyperparameters in a form, one background job per run, a live view that follows it.

No training happens in this script: the form builds a RunConfig and hands it to the server's job
manager (a child process per run). The live panel is a fragment that re-reads the run folder every
REFRESH_S seconds while the run is queued or running and renders once, statically, when it has
ended. The session keeps only the run id, so leaving the page, refreshing or closing the tab loses
nothing: coming back shows the run live again.
"""

from __future__ import annotations

import dataclasses

import plotly.graph_objects as go
import streamlit as st

from cnnlab import plots
from cnnlab.config import AugmentConfig, RunConfig
from cnnlab.data.augment import default_augment
from cnnlab.models import InvalidSpecError, check_spec
from cnnlab.recipes import default_run_config
from cnnlab.runs import (
    ACTIVE,
    LiveView,
    RunInfo,
    RunNotFound,
    format_duration,
    get_run,
    list_runs,
    read_live,
    run_title,
)
from cnnlab.training import OPTIMIZERS, SCHEDULES
from pages.common import (
    current_dataset,
    data_label,
    ensure_app_shell,
    job_manager,
    model_label,
)

REFRESH_S = 1.0  # seconds between live updates while a run is queued or running
# ... and until a started run's first loss point is on screen (target: 2 s after pressing Train)
FIRST_POINT_REFRESH_S = 0.25
BATCH_SIZES = [16, 32, 64, 128, 256, 512, 1024]
CHART = {"displayModeBar": False}


# -- helpers --------------------------------------------------------------------------------------
def ordinal(n: int) -> str:
    suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"


def describe_augment(aug: AugmentConfig) -> str:
    parts = []
    if aug.crop_padding:
        parts.append(f"random crop (pad {aug.crop_padding} px)")
    if aug.hflip:
        parts.append("horizontal flip")
    if aug.rotate_degrees:
        parts.append(f"rotation ±{aug.rotate_degrees:g}°")
    if aug.translate:
        parts.append(f"shift ±{aug.translate:.0%}")
    if aug.color_jitter:
        parts.append(f"colour jitter {aug.color_jitter:g}")
    if aug.erasing:
        parts.append(f"random erasing p={aug.erasing:g}")
    return ", ".join(parts) or "none"


def starting_config(dataset_name: str) -> tuple[RunConfig, str]:
    """The form's starting values: the session's last run when it used this dataset (so edits
    survive leaving the page), else the dataset's recipe. Returns (config, where it came from)."""
    run_id = st.session_state.run_id
    if run_id:
        try:
            cfg = get_run(run_id).config()
            if cfg.data.name == dataset_name:
                return cfg, run_id
        except (RunNotFound, ValueError, TypeError):
            pass
    return default_run_config(dataset_name), "recipe"


def followed_run(runs: list[RunInfo]) -> str | None:
    """The session's run; else the one this page is already showing (so a run that ends stays on
    screen); else the newest running, then queued run; else the newest run."""
    ids = [r.run_id for r in runs]
    for run_id in (st.session_state.run_id, st.session_state.get("train_watch")):
        if run_id in ids:
            return run_id
    for status in ("running", "queued"):
        for info in runs:
            if info.status == status:
                return info.run_id
    return ids[0] if ids else None


def queue_text(run_id: str) -> str:
    jobs = job_manager()
    place, training = jobs.queue_position(run_id), len(jobs.running())
    where = f"{ordinal(place)} in the queue" if place else "waiting to start"
    runs = "run" if training == 1 else "runs"
    return (
        f"{where}; {training} {runs} training (at most {jobs.max_parallel} at a time on this "
        "server)"
    )


def model_problem(input_shape: tuple[int, int, int], num_classes: int) -> str | None:
    cfg = st.session_state.model_cfg
    if cfg.name != "custom":
        return None
    try:
        check_spec(cfg.spec, input_shape, num_classes=num_classes)
    except (InvalidSpecError, ValueError) as exc:
        return str(exc)
    return None


# -- the form -------------------------------------------------------------------------------------
def train_form(dataset_ready: bool, problem: str | None) -> None:
    data_cfg = st.session_state.data_cfg
    base, source = starting_config(data_cfg.name)
    recipe = default_run_config(data_cfg.name)
    dataset_aug = next(
        (
            a
            for a in (base.augment, recipe.augment, default_augment(data_cfg.name))
            if a != AugmentConfig()
        ),
        AugmentConfig(),
    )
    tc = base.train
    k = f"{data_cfg.name}_{source}"  # new starting values = fresh widgets
    with st.form("train_form", border=True):
        st.markdown("**Hyperparameters**")
        st.caption(
            "Starting values: "
            + (
                "the recipe for this dataset"
                if source == "recipe"
                else "your last run on this dataset"
            )
        )
        left, right = st.columns(2)
        optimizers, schedules = list(OPTIMIZERS.names()), list(SCHEDULES.names())
        optimizer = left.selectbox(
            "Optimizer",
            optimizers,
            key=f"tr_opt_{k}",
            index=optimizers.index(tc.optimizer) if tc.optimizer in optimizers else 0,
        )
        schedule = right.selectbox(
            "Schedule",
            schedules,
            key=f"tr_sched_{k}",
            index=schedules.index(tc.schedule) if tc.schedule in schedules else 0,
            help="how the learning rate changes during training",
        )
        lr = left.number_input(
            "Learning rate",
            1e-6,
            1e6,
            float(min(max(tc.lr, 1e-6), 1e6)),
            format="%g",
            key=f"tr_lr_{k}",
            help="peak learning rate",
        )
        weight_decay = right.number_input(
            "Weight decay",
            0.0,
            1.0,
            float(tc.weight_decay),
            step=1e-4,
            format="%g",
            key=f"tr_wd_{k}",
        )
        sizes = sorted(set(BATCH_SIZES) | {tc.batch_size})
        batch_size = left.selectbox(
            "Batch size",
            sizes,
            index=sizes.index(tc.batch_size),
            key=f"tr_bs_{k}",
            help="images per optimiser step",
        )
        epochs = right.number_input("Epochs", 1, 500, int(tc.epochs), key=f"tr_ep_{k}")
        label_smoothing = st.slider(
            "Label smoothing", 0.0, 0.5, float(tc.label_smoothing), 0.05, key=f"tr_ls_{k}"
        )
        augment = st.toggle(
            "Augmentation",
            base.augment != AugmentConfig(),
            key=f"tr_aug_{k}",
            help="random changes to each training image, different every epoch",
        )
        st.caption(f"This dataset's augmentation: {describe_augment(dataset_aug)}.")
        left, right = st.columns(2)
        seed = left.number_input("Seed", 0, 2**31 - 1, int(tc.seed), key=f"tr_seed_{k}")
        early_stopping = right.number_input(
            "Early stopping",
            0,
            100,
            int(tc.early_stopping),
            key=f"tr_es_{k}",
            help="stop when the validation loss has not improved for this many epochs (0 = off)",
        )
        submitted = st.form_submit_button(
            "Train",
            type="primary",
            icon=":material/play_arrow:",
            disabled=not dataset_ready or problem is not None,
            key="train_submit",
            width="stretch",
        )
    if not submitted:
        return
    train = dataclasses.replace(
        tc,
        optimizer=optimizer,
        schedule=schedule,
        lr=float(lr),
        weight_decay=float(weight_decay),
        batch_size=int(batch_size),
        epochs=int(epochs),
        label_smoothing=float(label_smoothing),
        seed=int(seed),
        early_stopping=int(early_stopping),
    )
    cfg = dataclasses.replace(
        recipe,
        data=data_cfg,
        model=st.session_state.model_cfg,
        augment=dataset_aug if augment else AugmentConfig(),
        train=train,
    )
    st.session_state.run_id = job_manager().submit(cfg)
    st.rerun()  # the form restarts from this run's settings (new widget keys), now


def setup_summary() -> tuple[bool, str | None]:
    """What the next run trains: dataset, model, split sizes. Returns (dataset ok, model problem)."""
    st.markdown(
        f":material/photo_library: **{data_label(st.session_state.data_cfg)}**  \n"
        f":material/account_tree: **{model_label(st.session_state.model_cfg)}**"
    )
    dataset = current_dataset(stop=False)
    if dataset is None:
        return False, None
    c, h, w = dataset.input_shape
    st.caption(
        f"{len(dataset.train):,} train · {len(dataset.val):,} validation · "
        f"{len(dataset.test):,} test images · {dataset.num_classes} classes · "
        f"{c}×{h}×{w} input"
    )
    problem = model_problem(dataset.input_shape, dataset.num_classes)
    if problem:
        st.error(f"The custom network does not fit this data: {problem}", icon=":material/error:")
        st.page_link(
            "pages/model.py", label="Fix it on the Model page", icon=":material/account_tree:"
        )
    return True, problem


# -- the live panel -------------------------------------------------------------------------------
def stop_run(run_id: str, queued: bool = False) -> None:
    job_manager().stop(run_id)
    st.toast(
        "Removed from the queue." if queued else "Stopping… the best weights are kept.",
        icon=":material/stop_circle:",
    )


def resume_run(run_id: str) -> None:
    try:
        job_manager().resume(run_id)
    except ValueError as exc:
        st.toast(str(exc), icon=":material/error:")


def show_queued(view: LiveView) -> None:
    st.info(f"Queued: {queue_text(view.run_id)}.", icon=":material/hourglass_top:")
    st.button(
        "Remove from the queue",
        icon=":material/close:",
        key=f"unqueue_{view.run_id}",  # not stop_: that key belongs to the running view's Stop
        on_click=stop_run,
        args=(view.run_id, True),
    )


def show_progress(view: LiveView) -> None:
    stopping = view.stop_requested
    if view.end:
        st.progress(view.progress, text="training done: saving weights, measuring test accuracy…")
    elif stopping:
        st.progress(
            view.progress, text="stopping: ending the epoch early, keeping the best weights…"
        )
    elif not view.start:
        st.progress(0.0, text=f"starting: {view.message or 'launching the job'}…")
    else:
        elapsed = format_duration(view.elapsed_s)
        parts = [
            view.epoch_text,
            f"step {view.step:,}/{view.total_steps:,}",
            f"{view.progress:.0%}",
            elapsed and f"{elapsed} so far",
            view.eta_text,
        ]
        st.progress(view.progress, text=" · ".join(p for p in parts if p))
    cols = st.columns(4)
    speed = f"{view.images_per_s:,.0f}" if view.images_per_s else "–"
    cols[0].metric("Images/s", speed)
    cols[1].metric("Learning rate", f"{view.lr:.3g}" if view.lr is not None else "–")
    cols[2].metric("Batch loss", f"{view.loss:.3f}" if view.loss is not None else "–")
    cols[3].metric(
        "Best val accuracy", f"{view.best_val_acc:.1%}" if view.best_val_acc is not None else "–"
    )
    st.button(
        "Stop",
        icon=":material/stop:",
        key=f"stop_{view.run_id}",
        on_click=stop_run,
        args=(view.run_id,),
        disabled=stopping or bool(view.end),
        help="ends within about a second and keeps the best weights",
    )


def show_outcome(view: LiveView) -> None:
    took = format_duration(view.elapsed_s)
    if view.status == "finished":
        st.success(
            f"**Finished** {len(view.epochs)} of {view.epochs_total} epochs"
            + (f" in {took}" if took else "")
            + (f" · {view.message}" if view.message else "."),
            icon=":material/check:",
        )
    elif view.status == "stopped":
        st.info(
            f"**Stopped** ({view.message or 'by request'}). The best weights so far were kept.",
            icon=":material/stop_circle:",
        )
    elif view.status == "diverged":
        st.error(f"**Diverged.** {view.message}", icon=":material/warning:")
    elif view.status == "failed":
        st.error(f"**Failed.** {view.message}", icon=":material/error:")
        if view.error_text:
            with st.expander("Error details"):
                st.code("\n".join(view.error_text.splitlines()[-25:]))
    elif view.status == "interrupted":
        st.warning(f"**Interrupted.** {view.message}", icon=":material/warning:")
    if view.status in ("finished", "stopped", "interrupted") and view.epochs:
        best_epoch = view.end.best_epoch if view.end else None
        cols = st.columns(3)
        cols[0].metric(
            "Test accuracy", f"{view.test_acc:.1%}" if view.test_acc is not None else "–"
        )
        cols[1].metric(
            "Best val accuracy",
            f"{view.best_val_acc:.1%}" if view.best_val_acc is not None else "–",
            delta=f"epoch {best_epoch}" if best_epoch else None,
            delta_color="off",
            delta_arrow="off",
        )
        cols[2].metric("Images/s", f"{view.images_per_s:,.0f}" if view.images_per_s else "–")
    if view.status in ("interrupted", "failed", "stopped"):
        if view.can_resume:
            st.button(
                "Resume from the last checkpoint",
                icon=":material/replay:",
                key=f"resume_{view.run_id}",
                on_click=resume_run,
                args=(view.run_id,),
            )
    if view.status in ("finished", "stopped", "interrupted") and view.epochs:
        cols = st.columns(3)
        cols[0].page_link("pages/evaluate.py", label="Evaluate it", icon=":material/fact_check:")
        cols[1].page_link("pages/inside.py", label="Look inside", icon=":material/visibility:")
        cols[2].page_link(
            "pages/classify.py", label="Classify images", icon=":material/image_search:"
        )


def epochs_version(view: LiveView) -> tuple:
    last = view.epochs[-1] if view.epochs else None
    return len(view.epochs), last and last.epoch, last and last.elapsed


@st.cache_resource(max_entries=16, show_spinner=False)
def epoch_figure(run_id: str, version: tuple, _epochs: list[dict]) -> go.Figure:
    """Per-epoch curves change once an epoch, so build them once per (run, epochs seen, time of
    the last one) instead of every second. Shared and cached: never mutated."""
    return plots.training_curves(_epochs)


def show_charts(view: LiveView) -> None:
    if view.batches or view.active:
        st.caption("Training loss per batch")
        st.plotly_chart(
            plots.batch_loss_curve(view.chart_batches()), config=CHART, key="live_batch_loss"
        )
    if view.epochs or view.active:
        st.caption("Per epoch: training vs validation")
        st.plotly_chart(
            epoch_figure(view.run_id, epochs_version(view), view.epochs),
            config=CHART,
            key="live_epoch_curves",
        )
    if view.epochs and not view.active:
        with st.expander("Per-epoch numbers"):
            st.dataframe(
                view.epoch_frame(),
                hide_index=True,
                column_config={
                    "epoch": st.column_config.NumberColumn(format="%d"),
                    **{
                        c: st.column_config.NumberColumn(format="percent")
                        for c in ("train_acc", "val_acc")
                    },
                    "lr": st.column_config.NumberColumn(format="%.3g"),
                    "elapsed": st.column_config.NumberColumn("elapsed (s)", format="%.1f"),
                },
            )


def live_panel(run_id: str) -> None:
    """The followed run; refreshes itself only while the run is queued or running."""
    try:
        status = get_run(run_id).status().status
        waiting = status == "running" and not read_live(run_id).batches  # no loss point yet
    except RunNotFound:
        st.warning("That run no longer exists.")
        return
    was_active = status in ACTIVE
    every = (FIRST_POINT_REFRESH_S if waiting else REFRESH_S) if was_active else None

    @st.fragment(run_every=every)
    def panel() -> None:
        try:
            view = read_live(run_id)
        except RunNotFound:
            st.warning("That run was deleted.")
            return
        if view.active != was_active or (waiting and view.batches):
            # ended, or its first point came: re-render the whole page, so the refresh cadence
            # fits again (none once ended; REFRESH_S once points flow). A queued run that starts
            # is shown by the fragment itself: a full rerun there lost the Stop button's element
            # under load (tests/test_load_sessions.py).
            st.rerun()
        if view.status == "queued":
            show_queued(view)
            return
        if view.active:
            show_progress(view)
            jobs = job_manager()
            if view.status == "running" and jobs.queued():
                st.caption(
                    f"{len(jobs.queued())} more queued · at most {jobs.max_parallel} "
                    "at a time on this server"
                )
        else:
            show_outcome(view)
        show_charts(view)

    panel()


# -- the page -------------------------------------------------------------------------------------
if "data_cfg" not in st.session_state:  # a deep link on a fresh server skipped app.py;
    ensure_app_shell()  # (only then: its rerun would drop a button click under AppTest)
st.title("Train")
st.caption(
    "Pick hyperparameters and press **Train**: the run trains in the background, so you can "
    "leave this page, queue more runs, or close the tab and come back."
)

setup_col, live_col = st.columns([1, 1.9], gap="large")
with setup_col:
    st.markdown("#### New run")
    ready, problem = setup_summary()
    train_form(ready, problem)

with live_col:
    st.markdown("#### Watch a run")
    runs = list_runs()
    run_id = followed_run(runs)
    if run_id is None:
        st.info(
            "No runs yet. Choose the settings on the left and press **Train**; the loss "
            "appears here within seconds.",
            icon=":material/info:",
        )
    else:
        if st.session_state.get("train_watch") != run_id:
            st.session_state.train_watch = run_id
        labels = {r.run_id: run_title(r) for r in runs}
        st.selectbox(
            "Run",
            list(labels),
            format_func=labels.get,
            key="train_watch",
            on_change=lambda: st.session_state.update(run_id=st.session_state.train_watch),
        )
        live_panel(run_id)
