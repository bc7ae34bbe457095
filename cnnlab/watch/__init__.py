"""Watching a run learn: probe snapshots (the filmstrip) and the embedding per epoch.

`monitor.SnapshotMonitor` records them while a run trains (registered as the "snapshots"
monitor); `frames` stores and reads the files; `projection` has PCA, alignment and t-SNE.
"""

from cnnlab.watch.frames import Frame, frame_steps, read_features, read_frame
from cnnlab.watch.probes import Plan, load_plan, load_probe_images
from cnnlab.watch.projection import align, pca_2d, tsne_2d

__all__ = ["Frame", "Plan", "align", "frame_steps", "load_plan", "load_probe_images"]
__all__ += ["pca_2d", "read_features", "read_frame", "tsne_2d"]
