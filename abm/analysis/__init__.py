"""Layer 3, what the numbers mean: statistics (:mod:`.stats`), run summaries
(:mod:`.summary`), sensitivity indices (:mod:`.sensitivity`) and the historical check and
paired comparisons (:mod:`.history`). Pure functions of model outputs; they never run a
simulation and never touch storage."""
