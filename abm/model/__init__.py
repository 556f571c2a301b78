"""Layer 2, how a trial evolves: the equations (:mod:`.dynamics`), the one month step
(:mod:`.step`), random streams (:mod:`.rng`), the outcome record (:mod:`.outcomes`), the
per-month accumulators (:mod:`.accumulators`), the compile step (:mod:`.compile`) and the
engines behind a registry (:mod:`.engines`). Imports only the scenario layer."""
