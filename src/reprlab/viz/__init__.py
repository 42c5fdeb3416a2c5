"""Figures drawn from arrays: codes in 2-D and on the MDS sphere, reconstruction and
prior-sample grids, training curves, each written to a given path (matplotlib's Agg
backend). viz imports no evaluation code; ``reprlab.evaluate.figures`` computes what a run's
figures show and calls these functions."""

from reprlab.viz.figures import (
    reconstruction_grid,
    sample_grid,
    scatter_codes,
    sphere_codes,
    training_curves,
)
from reprlab.viz.projection import classical_mds, landmark_mds, mds, project_2d, to_sphere

__all__ = [
    "classical_mds",
    "landmark_mds",
    "mds",
    "project_2d",
    "reconstruction_grid",
    "sample_grid",
    "scatter_codes",
    "sphere_codes",
    "to_sphere",
    "training_curves",
]
