"""Training: the grid run fit by fit (runner), fused programs, Dask, the results store and provenance."""
