"""Model: choose a preset network or build one block by block; see its layers, size and cost.

The network is built for the current dataset (its input shape and class count). The custom network
being edited lives in `st.session_state.custom_spec` (a frozen ModelSpec, replaced on every edit);
"Use this model" makes the network shown the session's `model_cfg`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

import streamlit as st
from streamlit.delta_generator import DeltaGenerator

from cnnlab import designer, plots
from cnnlab.config import ConvBlock, ModelConfig, ModelSpec, Preprocess
from cnnlab.models import ACTIVATIONS, MODELS, POOLS, InvalidSpecError, check_spec
from pages import common

PRESETS = [name for name in MODELS if name != "custom"]
WIDTHS = [0.25, 0.5, 0.75, 1.0, 1.5, 2.0]  # channel multipliers for presets that scale
EDITOR = "blk"  # prefix of the custom editor's widget keys
CHART = {"displayModeBar": False}
Slots = tuple[DeltaGenerator, DeltaGenerator]  # (title line, message line) of one editor box
BLOCK_FIELDS = {  # ConvBlock field -> (label, choices or (min, max, step)); bools get a checkbox
    "filters": ("Filters", (1, 1024, 1)),
    "kernel": ("Kernel", [1, 3, 5, 7]),
    "stride": ("Stride", [1, 2, 3]),
    "padding": ("Padding", [-1, 0, 1, 2, 3]),
    "activation": ("Activation", ACTIVATIONS.names()),
    "pool": ("Pooling (2×2)", POOLS.names()),
    "dropout": ("Dropout", (0.0, 0.95, 0.05)),
    "batch_norm": ("Batch-norm", None),
}
SHOWN = {"kernel": lambda v: f"{v}×{v}", "padding": lambda p: "same" if p == -1 else f"{p} px"}


@st.cache_data(show_spinner="Building the model…", max_entries=32)
def overview(cfg: ModelConfig, preprocess: Preprocess, num_classes: int) -> designer.ModelOverview:
    return designer.describe_model(cfg, preprocess, num_classes)


def edit(change: Callable[..., ModelSpec], *args: int) -> None:
    """Button callback for a structural edit; the editor's widgets restart from the new spec."""
    st.session_state.custom_spec = change(st.session_state.custom_spec, *args)
    for key in [k for k in st.session_state if str(k).startswith(EDITOR)]:
        del st.session_state[key]


def field_widget(field: str, value: object, key: str) -> object:
    """The widget for one ConvBlock field (a number box, a checkbox or a selectbox)."""
    label, choices = BLOCK_FIELDS[field]
    if isinstance(value, bool):
        return st.checkbox(label, value, key=key)
    if isinstance(choices, tuple):  # (min, max, step) of a number
        low, high, step = choices
        return st.number_input(label, low, max(high, value), value, step, key=key)
    # a spec loaded from a run may hold a value the list lacks
    options = choices if value in choices else sorted([*choices, value])
    return st.selectbox(
        label, options, options.index(value), format_func=SHOWN.get(field, str), key=key
    )


def block_editor(i: int, block: ConvBlock, count: int) -> tuple[ConvBlock, Slots]:
    """One conv block's controls in a bordered box: returns the edited block and its slots."""
    with st.container(border=True):
        title, *actions = st.columns([12, 1, 1, 1], vertical_alignment="center")
        for column, (icon, tip, change, args, off) in zip(
            actions,
            [
                ("arrow_upward", "Move up", designer.move_block, (i, -1), i == 0),
                ("arrow_downward", "Move down", designer.move_block, (i, 1), i == count - 1),
                ("delete", "Remove this block", designer.remove_block, (i,), False),
            ],
            strict=True,
        ):
            column.button(
                "",
                icon=f":material/{icon}:",
                key=f"{EDITOR}{i}.{icon}",
                help=tip,
                disabled=off,
                on_click=edit,
                args=(change, *args),
                type="tertiary",
            )
        values = {}
        for column, field in zip(st.columns(4) + st.columns(4), BLOCK_FIELDS, strict=True):
            with column:
                values[field] = field_widget(field, getattr(block, field), f"{EDITOR}{i}.{field}")
        message = st.empty()
    return replace(block, **values), (title.empty(), message)


def classifier_editor(spec: ModelSpec) -> tuple[ModelSpec, Slots]:
    """The dense head's controls: hidden layer sizes as text ("128, 64"), dropout, global pooling."""
    with st.container(border=True):
        title = st.empty()
        a, b, c = st.columns([3, 2, 3], vertical_alignment="bottom")
        text = a.text_input(
            "Dense hidden layers (units)",
            designer.format_hidden(spec.hidden),
            key=EDITOR + "hidden",
            placeholder="e.g. 128, 64 (empty: none)",
        )
        dropout = b.number_input("Dropout", 0.0, 0.95, spec.dropout, 0.05, key=EDITOR + "hd")
        pool = c.checkbox(
            "Global avg pooling",
            spec.global_pool,
            key=EDITOR + "gap",
            help="Average each feature map to one number instead of flattening.",
        )
        message = st.empty()
    try:
        hidden = designer.parse_hidden(text)
    except ValueError as exc:
        message.error(str(exc), icon=":material/error:")
        hidden = spec.hidden
    return replace(spec, hidden=hidden, dropout=float(dropout), global_pool=pool), (title, message)


# -- inputs -----------------------------------------------------------------------------------------
common.ensure_app_shell()  # a deep link on a fresh server must still run app.py
ds = common.current_dataset()
st.title("Model")
shape = "×".join(map(str, ds.input_shape))
st.caption(
    f"Built for the current dataset, **{ds.title}**: input {shape}, {ds.num_classes} classes."
)
current: ModelConfig = st.session_state.model_cfg
left, right = st.columns([3, 2], gap="large")
error: InvalidSpecError | None = None
with left:
    mode = st.radio(
        "Network",
        ["Preset", "Custom"],
        int(current.name == "custom"),
        horizontal=True,
        captions=["from the model zoo", "your own stack of conv blocks"],
        key="model_mode",
    )
    if mode == "Preset":
        index = PRESETS.index(current.name) if current.name in PRESETS else 0
        name = st.selectbox(
            "Preset", PRESETS, index, format_func=lambda n: MODELS.get(n).title, key="model_preset"
        )
        info = MODELS.get(name)
        st.markdown(info.description)
        width, pretrained = 1.0, True
        if info.scales_with_width:
            start = current.width if current.name == name and current.width in WIDTHS else 1.0
            width = st.select_slider(
                "Width (channel multiplier)",
                WIDTHS,
                start,
                key="model_width",
                format_func=lambda v: f"×{v:g}",
            )
        if info.imagenet_weights:
            pretrained = st.checkbox(
                "Start from ImageNet weights when cached on this computer",
                current.pretrained,
                key="model_pretrained",
            )
        cfg = ModelConfig(name=name, width=width, pretrained=pretrained)
    else:
        spec: ModelSpec = st.session_state.custom_spec
        blocks = [block_editor(i, b, len(spec.blocks)) for i, b in enumerate(spec.blocks)]
        add, reset = st.columns(2)
        add.button(
            "Add a conv block",
            icon=":material/add:",
            on_click=edit,
            args=(designer.add_block,),
            disabled=len(spec.blocks) >= designer.MAX_BLOCKS,
            width="stretch",
        )
        reset.button(
            "Start again from the default",
            icon=":material/restart_alt:",
            on_click=edit,
            args=(lambda _: ModelSpec(),),
            width="stretch",
        )
        spec, head = classifier_editor(replace(spec, blocks=tuple(b for b, _ in blocks)))
        st.session_state.custom_spec = spec  # state: the edited network (a new frozen object)
        cfg = ModelConfig(name="custom", spec=spec)
        slots = [s for _, s in blocks] + [head]  # a layer index of -1 is the classifier
        try:
            rows = check_spec(spec, ds.input_shape, num_classes=ds.num_classes)
        except InvalidSpecError as exc:  # explained next to the offending block
            error, rows = exc, designer.block_shapes(spec, ds.input_shape)
            slots[exc.layer][1].error(str(exc), icon=":material/error:")
        for i, (title, _) in enumerate(slots[:-1]):
            out = [s for label, s in rows if label.startswith(f"block {i + 1} ")]
            title.markdown(
                f"**Conv block {i + 1}**" + (f" → {'×'.join(map(str, out[-1]))}" if out else "")
            )
        head[0].markdown(
            "**Classifier**: flatten or global pooling, dense layers, one output per class"
        )

# -- render: totals, diagram, the "use" action, the layer table ------------------------------------
with right:
    if error is not None:
        where = "the classifier" if error.layer < 0 else f"conv block {error.layer + 1}"
        st.error(
            f"This network cannot be built for {shape} images: see {where}.",
            icon=":material/error:",
        )
        st.stop()
    try:
        view = overview(cfg, ds.preprocess, ds.num_classes)
    except ValueError as exc:
        st.error(f"This network cannot be built: {exc}", icon=":material/error:")
        st.stop()
    in_use = cfg == current
    st.button(
        "This is the current model" if in_use else "Use this model",
        key="use_model",
        type="primary",
        icon=":material/check:",
        disabled=in_use,
        width="stretch",
        on_click=lambda: st.session_state.update(model_cfg=cfg),
    )
    a, b, c = st.columns(3)
    a.metric("Parameters", designer.human(view.total_params), help=f"{view.total_params:,} weights")
    b.metric(
        "Mult-adds",
        designer.human(view.mult_adds),
        help="multiply-adds of the forward pass, per image",
    )
    c.metric(
        "Train FLOP",
        designer.human(view.train_flops),
        help="per image ≈ 6 × multiply-adds: the forward pass (2 FLOP each) and the backward pass (about twice that)",
    )
    st.caption(
        f"Training costs ≈ {designer.human(view.train_flops)}FLOP per image forward + backward, "
        f"≈ {designer.human(view.train_flops * len(ds.train))}FLOP per epoch of "
        f"{len(ds.train):,} images. Weights: {view.note}."
    )
    st.plotly_chart(plots.layer_stack_figure(view.stack), config=CHART, theme=None, key="stack")

st.subheader("Layers")
st.caption(
    f"Totals: {view.total_params:,} parameters ({view.trainable_params:,} trainable), "
    f"{view.mult_adds:,} multiply-adds per image."
)
st.dataframe(
    view.table,
    hide_index=True,
    height=min(38 + 35 * len(view.table), 750),
    column_config={
        c: st.column_config.NumberColumn(format="localized")
        for c in ("parameters", "multiply-adds")
    },
)
