"""Front-layer command code that does not fit in ``abm/cli.py``: the console tables, the
``ls`` listing, sweep directories for ``show``/``plot``/``reproduce``, ``compare`` with its
results directory, and progress lines. Registered from :mod:`abm.cli`."""
