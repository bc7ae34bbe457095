"""What every cnnlab figure shares: the plotly template, margins, colours, the "nothing yet" figure."""

from __future__ import annotations

import plotly.graph_objects as go
import plotly.io as pio

# The template object, not its name: plotly resolves and validates a name on every figure (~22 ms
# per figure vs ~10 ms), and the Train page rebuilds its charts once a second per watching session.
TEMPLATE = pio.templates["plotly_white"]
MARGIN = dict(l=10, r=10, t=30, b=10)
TRAIN_COLOR, VAL_COLOR = "#1f77b4", "#ff7f0e"
ACCURACY_RANGE = [0, 1]  # accuracy axes end at 100% (fractions, shown with tickformat ".0%")


def message_figure(text: str, height: int = 250) -> go.Figure:
    """An empty figure showing `text` in the middle (no data yet, nothing to show)."""
    fig = go.Figure()
    fig.add_annotation(
        text=text, x=0.5, y=0.5, xref="paper", yref="paper", showarrow=False, font=dict(size=15)
    )
    fig.update_xaxes(visible=False)
    fig.update_yaxes(visible=False)
    fig.update_layout(template=TEMPLATE, height=height, margin=MARGIN)
    return fig
