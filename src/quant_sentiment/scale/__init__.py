"""Beyond one process: the study grid on Dask (``grid``, ``cells``, ``tables``) and the
parallel Optuna search (``search``); the commands in ``cli`` (docs/scale.md)."""
