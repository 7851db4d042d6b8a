"""Training: what a run is to do (plan), its units and their execution (units, runner), fused
programs (fused, programs), Dask (cluster), the results store and provenance."""
