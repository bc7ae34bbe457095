"""Model: choose a preset network or build one block by block; see its layers, size and cost.

The network is built for the current dataset (its input shape and class count). The custom network
being edited lives in `st.session_state.custom_spec` (a frozen ModelSpec, replaced on every edit);
"Use this model" makes the shown network the session's `model_cfg`.
"""

from __future__ import annotations

from dataclasses import replace

import streamlit as st
from streamlit.delta_generator import DeltaGenerator

from cnnlab import designer, plots
from cnnlab.config import ConvBlock, ModelConfig, ModelSpec, Preprocess
from cnnlab.models import ACTIVATIONS, MODELS, POOLS, InvalidSpecError, check_spec
from pages import common

PRESETS = [name for name in MODELS if name != "custom"]
WIDTHS = [0.25, 0.5, 0.75, 1.0, 1.5, 2.0]  # channel multipliers for presets that scale
PADDINGS = [-1, 0, 1, 2, 3]  # pixels; -1 = "same"
EDITOR = "blk"  # prefix of the block editor's widget keys
CHART = {"displayModeBar": False}


@st.cache_data(show_spinner="Building the model…", max_entries=32)
def overview(cfg: ModelConfig, preprocess: Preprocess, num_classes: int) -> designer.ModelOverview:
    return designer.describe_model(cfg, preprocess, num_classes)


def edit(change, *args: int) -> None:  # noqa: ANN001 - a designer edit function
    """Button callback: a structural edit; the editor widgets then restart from the new spec."""
    st.session_state.custom_spec = change(st.session_state.custom_spec, *args)
    for key in [k for k in st.session_state if str(k).startswith(EDITOR)]:
        del st.session_state[key]


def options(values: list, current: object) -> tuple[list, int]:
    """Choices that include `current`, and its index."""
    values = values if current in values else sorted([*values, current])
    return values, values.index(current)


def block_editor(i: int, block: ConvBlock, count: int) -> tuple[ConvBlock, DeltaGenerator]:
    """One block's controls in a bordered box; returns the edited block and a slot for messages."""
    k = f"{EDITOR}{i}."
    with st.container(border=True):
        title, up, down, remove = st.columns([10, 1, 1, 1], vertical_alignment="center")
        title.markdown(f"**Conv block {i + 1}**")
        up.button(
            "",
            icon=":material/arrow_upward:",
            key=k + "up",
            help="Move up",
            disabled=i == 0,
            on_click=edit,
            args=(designer.move_block, i, -1),
            type="tertiary",
        )
        down.button(
            "",
            icon=":material/arrow_downward:",
            key=k + "down",
            help="Move down",
            disabled=i == count - 1,
            on_click=edit,
            args=(designer.move_block, i, 1),
            type="tertiary",
        )
        remove.button(
            "",
            icon=":material/delete:",
            key=k + "remove",
            help="Remove this block",
            on_click=edit,
            args=(designer.remove_block, i),
            type="tertiary",
        )
        a, b, c, d = st.columns(4)
        filters = a.number_input(
            "Filters", 1, max(1024, block.filters), block.filters, key=k + "filters"
        )
        kernels, kernel_i = options([1, 3, 5, 7], block.kernel)
        kernel = b.selectbox(
            "Kernel", kernels, kernel_i, format_func=lambda v: f"{v}×{v}", key=k + "kernel"
        )
        strides, stride_i = options([1, 2, 3], block.stride)
        stride = c.selectbox("Stride", strides, stride_i, key=k + "stride")
        pads, pad_i = options(PADDINGS, block.padding)
        padding = d.selectbox(
            "Padding",
            pads,
            pad_i,
            format_func=lambda p: "same" if p == -1 else f"{p} px",
            key=k + "padding",
        )
        e, f, g, h = st.columns(4)
        activation = e.selectbox(
            "Activation",
            ACTIVATIONS.names(),
            ACTIVATIONS.names().index(block.activation),
            key=k + "activation",
        )
        pool = f.selectbox(
            "Pooling",
            POOLS.names(),
            POOLS.names().index(block.pool),
            key=k + "pool",
            format_func=lambda p: (
                f"{p} {block.pool_size}×{block.pool_size}" if p != "none" else "none"
            ),
        )
        dropout = g.number_input("Dropout", 0.0, 0.9, block.dropout, 0.05, key=k + "dropout")
        batch_norm = h.checkbox("Batch-norm", block.batch_norm, key=k + "bn")
        slot = st.empty()
    edited = replace(
        block,
        filters=int(filters),
        kernel=kernel,
        stride=stride,
        padding=padding,
        activation=activation,
        pool=pool,
        dropout=float(dropout),
        batch_norm=batch_norm,
    )
    return edited, slot


# -- inputs -----------------------------------------------------------------------------------------
ds = common.current_dataset()
c, h, w = ds.input_shape
st.title("Model")
st.caption(
    f"Built for the current dataset, **{ds.title}**: input {c}×{h}×{w}, {ds.num_classes} classes."
)
current: ModelConfig = st.session_state.model_cfg
left, right = st.columns([3, 2], gap="large")
with left:
    mode = st.radio(
        "Network",
        ["Preset", "Custom"],
        index=int(current.name == "custom"),
        horizontal=True,
        key="model_mode",
        captions=["a network from the zoo", "your own stack of conv blocks"],
    )
    error: InvalidSpecError | None = None
    if mode == "Preset":
        name = st.selectbox(
            "Preset",
            PRESETS,
            PRESETS.index(current.name) if current.name in PRESETS else 0,
            format_func=lambda n: MODELS.get(n).title,
            key="model_preset",
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
                "Start from ImageNet weights when they are cached on this computer",
                current.pretrained,
                key="model_pretrained",
            )
        cfg = ModelConfig(name=name, width=width, pretrained=pretrained)
    else:
        spec: ModelSpec = st.session_state.custom_spec
        edited = [block_editor(i, b, len(spec.blocks)) for i, b in enumerate(spec.blocks)]
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
            width="stretch",
            on_click=edit,
            args=(lambda _: ModelSpec(),),
        )
        with st.container(border=True):
            st.markdown(
                "**Classifier**: flatten (or global average pooling), dense layers, class outputs"
            )
            a, b, c2 = st.columns([2, 1, 1])
            hidden_text = a.text_input(
                "Dense hidden layers (units)",
                designer.format_hidden(spec.hidden),
                key=EDITOR + "hidden",
                placeholder="e.g. 128, 64 (empty: none)",
            )
            head_dropout = b.number_input(
                "Dropout", 0.0, 0.9, spec.dropout, 0.05, key=EDITOR + "head_dropout"
            )
            global_pool = c2.checkbox(
                "Global average pooling",
                spec.global_pool,
                key=EDITOR + "gap",
                help="Average each feature map to one number instead of flattening it.",
            )
            head_slot = st.empty()
        try:
            hidden = designer.parse_hidden(hidden_text)
        except ValueError as exc:
            head_slot.error(str(exc))
            hidden = spec.hidden
        spec = replace(
            spec,
            blocks=tuple(b for b, _ in edited),
            hidden=hidden,
            dropout=float(head_dropout),
            global_pool=global_pool,
        )
        st.session_state.custom_spec = spec  # state: the edited spec (a new frozen object)
        cfg = ModelConfig(name="custom", spec=spec)
        try:
            rows = check_spec(spec, ds.input_shape, num_classes=ds.num_classes)
        except InvalidSpecError as exc:  # explained next to the offending block
            error = exc
            slot = head_slot if exc.layer < 0 or exc.layer >= len(edited) else edited[exc.layer][1]
            slot.error(str(exc), icon=":material/error:")
        else:
            for i, (_, slot) in enumerate(edited):
                shape = [s for label, s in rows if label.startswith(f"block {i + 1} ")][-1]
                slot.caption(f"output {'×'.join(map(str, shape))}")

# -- render: summary, diagram and the "use" action -------------------------------------------------
with right:
    if error is not None:
        st.error("This network cannot be built for this dataset; see the message in the editor.")
        st.stop()
    try:
        view = overview(cfg, ds.preprocess, ds.num_classes)
    except ValueError as exc:
        st.error(f"This network cannot be built: {exc}")
        st.stop()
    in_use = cfg == current
    st.button(
        "This is the current model" if in_use else "Use this model",
        type="primary",
        icon=":material/check:",
        disabled=in_use,
        width="stretch",
        key="use_model",
        on_click=lambda: st.session_state.update(model_cfg=cfg),
    )
    a, b, c3 = st.columns(3)
    a.metric(
        "Parameters",
        designer.human(view.total_params),
        help=f"{view.total_params:,} weights and biases",
    )
    b.metric("Multiply-adds", designer.human(view.mult_adds), help="per image, forward pass")
    c3.metric(
        "Training cost",
        f"{designer.human(view.train_flops)}FLOP",
        help="≈ 6 × multiply-adds per image: forward (2 FLOP each) and backward (about twice that)",
    )
    st.caption(
        f"≈ {designer.human(view.train_flops)}FLOP per image forward + backward, "
        f"≈ {designer.human(view.train_flops * len(ds.train))}FLOP per epoch "
        f"({len(ds.train):,} images). Weights: {view.note}."
    )
    st.plotly_chart(plots.layer_stack_figure(view.stack), config=CHART, key="stack")

st.subheader("Layers")
st.dataframe(
    view.table,
    hide_index=True,
    column_config={
        "parameters": st.column_config.NumberColumn(format="localized"),
        "multiply-adds": st.column_config.NumberColumn(format="localized"),
    },
)
