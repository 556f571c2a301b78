"""Layer 1, what to simulate: the scenario schema, loading (``extends``, ``--set``) and
validation. Imports nothing from the rest of the package but :mod:`abm.errors` and
:mod:`abm.limits`."""

from .load import (
    Provenance,
    apply_override,
    format_override,
    load_raw,
    overrides_as_text,
    parse_override,
)
from .schema import SHOCK_VARIABLES, Scenario, Schedule, State
from .validate import build, load_scenario, scenario_from_dict

__all__ = ["Provenance", "SHOCK_VARIABLES", "Scenario", "Schedule", "State", "apply_override",
           "build", "format_override", "load_raw", "load_scenario", "overrides_as_text",
           "parse_override", "scenario_from_dict"]
