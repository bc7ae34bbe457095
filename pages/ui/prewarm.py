"""Work a fresh server does in the background before anyone asks, so the first click is fast."""

from __future__ import annotations

import threading

from cnnlab.recipes import default_run_config
from pages.ui.common import dataset_for

_started = threading.Lock()  # held for good once the prewarm has started


def prewarm_quick_start() -> None:
    """Once per server, in the background: the quick start's dataset into the shared cache (shapes
    generated, scikit-learn imported for the splits), so the Train page that Home's Quick start
    opens renders at once (it took 4 s of a fresh server's first click: bench_first_click.py)."""
    if not _started.acquire(blocking=False):
        return
    threading.Thread(target=_prewarm, name="cnnlab-prewarm", daemon=True).start()


def _prewarm() -> None:
    # The Train page's modules and its two live figures: plotly loads a trace type's validators
    # on its first figure (~0.3 s each), which would otherwise delay the first loss point.
    from cnnlab import plots
    from pages.ui import live_panel, train_form  # noqa: F401 - imported once per process

    plots.batch_loss_curve([])
    plots.training_curves([])
    dataset_for(default_run_config("shapes").data)
