"""Layer 4, running many trials: :func:`~.simulate.simulate`, sweeps (:mod:`.sweep`), the
historical episodes and paired comparisons (:mod:`.episodes`), one executor layer for all
of them (:mod:`.executors`) and the results store (:mod:`.store`), which never draws."""
