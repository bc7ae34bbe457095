"""Lesson 5, learning: gradient descent with momentum on a 2-weight quadratic loss, as
`torch.optim.SGD` does it, and its figures (the path over the loss contours, the loss curve)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import plotly.graph_objects as go

from cnnlab.learn.figures import layout
from cnnlab.plots import VAL_COLOR
from cnnlab.registry import Registry


@dataclass(frozen=True)
class Surface:
    """A 2-parameter quadratic loss L(w) = 1/2 w^T H w, minimum 0 at w = (0, 0): the shape every
    smooth loss has near a minimum. H has eigenvalues `curvatures`, rotated by `angle`."""

    title: str  # shown in the UI
    curvatures: tuple[float, float]  # eigenvalues of the Hessian H (steepness of each axis)
    angle: float  # degrees the valley is turned by
    start: tuple[float, float]  # where descent starts
    extent: float  # the plot shows [-extent, extent] on both axes

    @property
    def hessian(self) -> np.ndarray:
        """H = R diag(curvatures) R^T, float64 (2, 2)."""
        a = np.deg2rad(self.angle)
        r = np.array([[np.cos(a), -np.sin(a)], [np.sin(a), np.cos(a)]])
        return r @ np.diag(self.curvatures) @ r.T

    def loss(self, w: np.ndarray) -> np.ndarray:
        """w (..., 2) -> loss (...)."""
        w = np.asarray(w, dtype=np.float64)
        return 0.5 * np.einsum("...i,ij,...j->...", w, self.hessian, w)

    def grad(self, w: np.ndarray) -> np.ndarray:
        """(2,) -> dL/dw = H w, (2,)."""
        return self.hessian @ np.asarray(w, dtype=np.float64)

    @property
    def max_stable_lr(self) -> float:
        """Plain gradient descent diverges above 2 / (largest curvature)."""
        return 2.0 / max(self.curvatures)


SURFACES: Registry[Surface] = Registry("loss surface")
SURFACES.add("bowl", Surface("round bowl", (1.0, 2.0), 0.0, (-4.0, 3.0), 5.0))
SURFACES.add("valley", Surface("narrow valley", (0.5, 10.0), 30.0, (-4.0, 3.0), 5.0))


def lr_presets(surface: Surface) -> dict[str, float]:
    """Learning rates that show the three behaviours on `surface` (3 significant digits)."""
    top = max(surface.curvatures)

    def nice(v: float) -> float:
        return float(f"{v:.3g}")

    return {
        "too small": nice(0.02 / top),  # crawls
        "about right": nice(0.9 / top),  # fast on the steep axis, no overshoot
        "too large": nice(2.3 / top),  # above 2 / top: each step overshoots more than the last
    }


DIVERGE_FACTOR = 1e3  # diverged = the loss grew to this many times its starting value


@dataclass(frozen=True, eq=False)
class Descent:
    path: np.ndarray  # float64 (n + 1, 2): the start and the parameters after each step
    losses: np.ndarray  # float64 (n + 1,): the loss at each point of the path
    diverged: bool  # the loss blew up (iteration stopped there)

    @property
    def steps(self) -> int:
        return len(self.path) - 1

    @property
    def final_loss(self) -> float:
        return float(self.losses[-1])

    @property
    def outcome(self) -> str:
        """ "diverged", "converged" (loss below 1/1000 of its start) or "descending"."""
        if self.diverged:
            return "diverged"
        return "converged" if self.final_loss <= 1e-3 * self.losses[0] else "descending"


def gradient_descent(
    surface: Surface,
    lr: float,
    steps: int,
    momentum: float = 0.0,
    start: tuple[float, float] | None = None,
) -> Descent:
    """Gradient descent with heavy-ball momentum, as torch.optim.SGD does it:
    v <- momentum * v + grad(w);  w <- w - lr * v.  Stops early when the loss blows up."""
    w = np.array(surface.start if start is None else start, dtype=np.float64)  # (2,)
    v = np.zeros(2)
    first = float(surface.loss(w))
    path, losses = [w.copy()], [first]
    diverged = False
    for _ in range(steps):
        v = momentum * v + surface.grad(w)
        w = w - lr * v
        loss = float(surface.loss(w))
        path.append(w.copy())
        losses.append(loss)
        if not np.isfinite(loss) or loss > DIVERGE_FACTOR * max(first, 1e-12):
            diverged = True
            break
    return Descent(np.array(path), np.array(losses), diverged)


def loss_text(v: float) -> str:
    """A loss for a sentence: 3 significant digits, big ones with thousands separators."""
    return f"{v:,.0f}" if v >= 1000 else f"{v:.3g}"


def outcome_message(surface: Surface, descent: Descent) -> str:
    """Markdown: what happened on this run of `descent.outcome`, and what to try next."""
    start, end = loss_text(descent.losses[0]), loss_text(descent.final_loss)
    if descent.outcome == "diverged":
        return (
            f"**Diverged** after {descent.steps} steps: the loss grew from {start} to {end}. "
            f"Each step overshoots the valley further; above η = {surface.max_stable_lr:.3g} "
            "plain gradient descent cannot settle here."
        )
    if descent.outcome == "converged":
        return f"**Converged**: loss {start} → {descent.final_loss:.2g} in {descent.steps} steps."
    return (
        f"**Still on the way**: loss {start} → {end} after {descent.steps} steps. More "
        "steps, a larger learning rate or momentum would get further."
    )


def _clipped(path: np.ndarray, extent: float) -> tuple[np.ndarray, np.ndarray]:
    """Path points pushed back onto the plot box (a diverging run leaves it) and which were."""
    outside = np.abs(path).max(axis=1) > extent
    return np.clip(path, -extent, extent), outside


def descent_figure(surface: Surface, descent: Descent) -> go.Figure:
    """Contours of the loss with the path of the iterates from the start (green) to the last point
    (red); points that left the plot are drawn on its edge as crosses."""
    e = surface.extent
    grid = np.linspace(-e, e, 121)
    w1, w2 = np.meshgrid(grid, grid)  # (121, 121) each
    loss = surface.loss(np.stack([w1, w2], axis=-1))  # (121, 121)
    path, outside = _clipped(descent.path, e)
    fig = go.Figure()
    fig.add_trace(
        go.Contour(  # sqrt spaces the ellipses evenly; hover shows the real loss
            x=grid,
            y=grid,
            z=np.sqrt(loss),
            customdata=loss,
            colorscale="Blues",
            reversescale=True,
            ncontours=18,
            showscale=False,
            contours=dict(coloring="heatmap", showlines=True),
            line=dict(color="rgba(255,255,255,0.6)", width=1),
            hovertemplate="w1 %{x:.2f}, w2 %{y:.2f}<br>loss %{customdata:.3g}<extra></extra>",
        )
    )
    fig.add_trace(
        go.Scatter(
            x=path[:, 0],
            y=path[:, 1],
            mode="lines+markers",
            name="path",
            line=dict(color=VAL_COLOR, width=3),
            marker=dict(size=8, color=VAL_COLOR, symbol=np.where(outside, "x", "circle")),
            customdata=np.stack([np.arange(len(path)), descent.losses], axis=-1),
            hovertemplate="step %{customdata[0]}<br>loss %{customdata[1]:.3g}<extra></extra>",
        )
    )
    low = path[-1, 1] < -0.7 * e  # an end near the bottom edge gets its label above
    for (x, y), name, color, symbol, where in (
        (path[0], "start", "#16a34a", "circle", "top center"),
        (path[-1], "end", "#dc2626", "circle", "top center" if low else "bottom center"),
        ((0.0, 0.0), "minimum", "white", "star", "top center"),
    ):
        fig.add_trace(
            go.Scatter(
                x=[x],
                y=[y],
                mode="markers+text",
                name=name,
                text=[f"<b>{name}</b>"],
                textposition=where,
                textfont=dict(size=16, color="black"),
                marker=dict(size=18, color=color, symbol=symbol, line=dict(color="black", width=1)),
            )
        )
    view = 1.06 * e  # a little margin, so points clipped to the edge stay visible
    fig.update_xaxes(title="weight w1", range=[-view, view], constrain="domain")
    fig.update_yaxes(
        title="weight w2", range=[-view, view], scaleanchor="x", scaleratio=1, constrain="domain"
    )
    return layout(fig, 460, top=20, showlegend=False)


def loss_curve(descent: Descent) -> go.Figure:
    """Loss after each step, log scale (zeros drawn at 1e-12)."""
    fig = go.Figure(
        go.Scatter(
            x=np.arange(len(descent.losses)),
            y=np.maximum(descent.losses, 1e-12),
            mode="lines+markers",
            line=dict(color=VAL_COLOR, width=3),
            marker=dict(size=6),
            hovertemplate="step %{x}: loss %{y:.3g}<extra></extra>",
        )
    )
    fig.update_xaxes(title="step")
    fig.update_yaxes(title="loss (log scale)", type="log", exponentformat="power")
    return layout(fig, 460, top=20)
