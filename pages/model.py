"""Model: choose a preset network or build one block by block; see its layers, size and cost.

The network is built for the current dataset (its input shape and class count). The custom network
being edited lives in `st.session_state.custom_spec` (a frozen ModelSpec, replaced on every edit);
"Use this model" makes the network shown the session's `model_cfg`. The block editor draws one
widget per field of `designer.block_fields()` (the `ConvBlock` schema).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

import streamlit as st
from streamlit.delta_generator import DeltaGenerator

from cnnlab import designer, plots
from cnnlab.config import ConvBlock, ModelConfig, ModelSpec, Preprocess
from cnnlab.models import MAX_BLOCKS, MAX_HIDDEN_TEXT, MODELS, InvalidSpecError, parse_hidden
from cnnlab.text import md_escape
from pages.ui import common, share
from pages.ui.finetune import start_from
from pages.ui.model_fields import field_widget, seeded, tta_boxes
from pages.ui.model_start import start_picker

PRESETS = [name for name in MODELS if name != "custom"]
WIDTHS = [0.25, 0.5, 0.75, 1.0, 1.5, 2.0, 3.0, 4.0]  # channel multipliers (ModelConfig allows <= 4)
EDITOR = "blk"  # prefix of the custom editor's widget keys
PER_ROW = 4  # block fields per row of the editor
CHART = common.chart_config("layer stack")
ERROR = ":material/error:"
HEAD_TITLE = "**Classifier**: flatten or global pooling, dense layers, one output per class"
NUMBER = st.column_config.NumberColumn(format="localized")  # thousands separators
Slots = tuple[DeltaGenerator, DeltaGenerator]  # (title line, message line) of one editor box


@st.cache_data(show_spinner="Building the model…", max_entries=32)
def overview(cfg: ModelConfig, preprocess: Preprocess, num_classes: int) -> designer.ModelOverview:
    return designer.describe_model(cfg, preprocess, num_classes)


def edit(change: Callable[..., ModelSpec], *args: int) -> None:
    """Button callback for a structural edit; the editor's widgets restart from the new spec."""
    st.session_state.custom_spec = change(st.session_state.custom_spec, *args)
    for key in [k for k in st.session_state if str(k).startswith(EDITOR)]:
        del st.session_state[key]


def block_editor(i: int, block: ConvBlock, count: int) -> tuple[ConvBlock, Slots]:
    """One conv block's controls in a bordered box: returns the edited block and its slots."""
    with st.container(border=True):
        title, *actions = st.columns([12, 1, 1, 1], vertical_alignment="center")
        for column, (icon, tip, change, args, off) in zip(
            actions, designer.block_actions(i, count), strict=True
        ):
            look = dict(icon=f":material/{icon}:", help=tip, disabled=off, type="tertiary")
            column.button(
                "", key=f"{EDITOR}{i}.{icon}", on_click=edit, args=(change, *args), **look
            )
        schema = designer.block_fields()
        rows = range(0, len(schema), PER_ROW)
        columns = [c for _ in rows for c in st.columns(PER_ROW, vertical_alignment="bottom")]
        values = {}
        for column, field in zip(columns, schema, strict=False):  # the last row may be short
            with column:
                key = f"{EDITOR}{i}.{field.name}"
                values[field.name] = field_widget(field, getattr(block, field.name), key)
        message = st.empty()
    return replace(block, **values), (title.empty(), message)


def classifier_editor(spec: ModelSpec) -> tuple[ModelSpec, Slots]:
    """The dense head's controls: hidden layer sizes as text ("128, 64"), dropout, global pooling."""
    with st.container(border=True):
        title = st.empty()
        a, b, c = st.columns([3, 2, 3], vertical_alignment="bottom")
        hint = dict(placeholder="e.g. 128, 64 (empty: none)", max_chars=MAX_HIDDEN_TEXT)
        label, units = "Dense hidden layers (units)", designer.format_hidden(spec.hidden)
        text = a.text_input(label, key=seeded(EDITOR + "hidden", units), **hint)
        dropout = b.number_input(
            "Dropout", 0.0, 0.95, step=0.05, key=seeded(EDITOR + "hd", spec.dropout)
        )
        tip = "Average each feature map to one number instead of flattening."
        pool = c.checkbox(
            "Global avg pooling", key=seeded(EDITOR + "gap", spec.global_pool), help=tip
        )
        message = st.empty()
    try:
        hidden = parse_hidden(text)  # a long text is refused by its length, before any parsing
    except ValueError as exc:
        message.error(str(exc), icon=ERROR)
        hidden = spec.hidden
    return replace(spec, hidden=hidden, dropout=float(dropout), global_pool=pool), (title, message)


def preset_picker(current: ModelConfig) -> ModelConfig:
    """The preset selectbox, its description, and its width where it has one."""
    index = PRESETS.index(current.name) if current.name in PRESETS else 0
    title = lambda n: MODELS.get(n).title  # noqa: E731
    name = st.selectbox("Preset", PRESETS, index, format_func=title, key="model_preset")
    info = MODELS.get(name)
    st.markdown(info.description)
    width = 1.0
    if info.scales_with_width:
        start = current.width if current.name == name and current.width in WIDTHS else 1.0
        times = lambda v: f"×{v:g}"  # noqa: E731
        label = "Width (channel multiplier)"
        width = st.select_slider(label, WIDTHS, start, key="model_width", format_func=times)
    flip, shift = tta_boxes(current.flip_tta, current.shift_tta)
    return ModelConfig(name=name, width=width, flip_tta=flip, shift_tta=shift)  # start: finetune


def custom_editor(
    spec: ModelSpec, input_shape: tuple[int, ...], num_classes: int
) -> tuple[ModelSpec, InvalidSpecError | None]:
    """The block boxes, add/reset buttons and the classifier box: the edited spec and its first
    error; each block's output shape and the error go into their boxes (by `error.layer`)."""
    blocks = [block_editor(i, b, len(spec.blocks)) for i, b in enumerate(spec.blocks)]
    add, reset = st.columns(2)
    full = len(spec.blocks) >= MAX_BLOCKS
    look = dict(icon=":material/add:", disabled=full, width="stretch")
    add.button("Add a conv block", on_click=edit, args=(designer.add_block,), **look)
    look = dict(icon=":material/restart_alt:", width="stretch", on_click=edit)
    reset.button("Start again from the default", args=(lambda _: ModelSpec(),), **look)
    spec, head = classifier_editor(replace(spec, blocks=tuple(b for b, _ in blocks)))
    check = designer.check_blocks(spec, input_shape, num_classes)
    for i, ((_, (title, _)), out) in enumerate(zip(blocks, check.block_outputs, strict=True)):
        title.markdown(f"**Conv block {i + 1}**" + (f" → {'×'.join(map(str, out))}" if out else ""))
    head[0].markdown(HEAD_TITLE)
    if check.error is not None:  # a layer of -1 is the classifier
        slots = head if check.error.layer < 0 else blocks[check.error.layer][1]
        slots[1].error(str(check.error), icon=ERROR)
    return spec, check.error


def summary_panel(
    cfg: ModelConfig, current: ModelConfig, view: designer.ModelOverview, num_train: int
) -> None:
    """The "use" action, the totals and the layer-stack diagram."""
    in_use = cfg == current
    label = "This is the current model" if in_use else "Use this model"
    use = lambda: st.session_state.update(model_cfg=cfg)  # noqa: E731
    look = dict(type="primary", icon=":material/check:", disabled=in_use, width="stretch")
    st.button(label, key="use_model", on_click=use, **look)
    for column, (name, value, tip) in zip(st.columns(3), designer.cost_metrics(view), strict=True):
        column.metric(name, value, help=tip)
    st.caption(designer.cost_caption(view, num_train))
    st.plotly_chart(plots.layer_stack_figure(view.stack), config=CHART, theme=None, key="stack")


# -- inputs -----------------------------------------------------------------------------------------
common.ensure_app_shell()  # a deep link on a fresh server must still run app.py
ds = common.current_dataset()
st.title("Model")
share_slot, rules = share.begin()  # the URL's network (share links), or a lesson's fixed one
shape = "×".join(map(str, ds.input_shape))
built_for = f"**{md_escape(ds.title)}**: input {shape}, {ds.num_classes} classes"
st.caption(f"Built for the current dataset, {built_for}.")
current: ModelConfig = st.session_state.model_cfg
left, right = st.columns([3, 2], gap="large")
error: InvalidSpecError | None = None
with left:
    captions = ["from the model zoo", "your own stack of conv blocks"]
    locked = rules.is_locked("model")  # a link's `_lock`/`_hide=model`, the lesson's network
    share.lock_caption(rules, ["model"], {"model": "the network"})
    look = dict(horizontal=True, captions=captions, key="model_mode", disabled=locked)
    if "model" not in rules.hidden:
        mode = st.radio("Network", ["Preset", "Custom"], int(current.name == "custom"), **look)
    if locked:
        cfg = current
    elif mode == "Preset":
        cfg = preset_picker(current)
    else:  # state: the edited network (a new frozen object on every edit)
        start_picker(lambda spec: edit(lambda _: spec))  # load a preset's or a run's network
        spec, error = custom_editor(st.session_state.custom_spec, ds.input_shape, ds.num_classes)
        st.session_state.custom_spec = spec
        cfg = ModelConfig(name="custom", spec=spec)
    if not locked:
        cfg = start_from(cfg, current, ds)  # scratch / ImageNet / a saved run; frozen blocks

# -- render: totals, diagram, the "use" action, the layer table ------------------------------------
with right:
    if error is not None:
        where = "the classifier" if error.layer < 0 else f"conv block {error.layer + 1}"
        st.error(f"This network cannot be built for {shape} images: see {where}.", icon=ERROR)
        st.stop()
    try:
        view = overview(cfg, ds.preprocess, ds.num_classes)
    except ValueError as exc:
        st.error(f"This network cannot be built: {md_escape(exc)}", icon=ERROR)
        st.stop()
    summary_panel(cfg, current, view, len(ds.train))

st.subheader("Layers")
st.caption(designer.totals_caption(view))
numbers = dict.fromkeys(("parameters", "multiply-adds"), NUMBER)
height = min(38 + 35 * len(view.table), 750)
st.dataframe(view.table, hide_index=True, height=height, column_config=numbers)
share.end(share_slot)
