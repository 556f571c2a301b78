"""The starting-stance rule: ``w0`` and ``p0`` from covariates measured before an episode.

docs/model.md, "Starting stances", states the equations; the coefficients are the
``[stances]`` table (:class:`~abm.scenario.schema.Stances`), shared by every state and
episode. Validation applies the rule to a state whose ``willingness`` / ``public_support``
is absent when ``stances.rule = true``; an explicit value always wins.
"""

from __future__ import annotations

import math

from .schema import Stances, State

__all__ = ["sigma", "russian_remittances", "rule_willingness", "rule_public_support"]

#: The poll enters as a logit; clipped so that 0% or 100% stay finite.
POLL_CLIP = (0.01, 0.99)


def sigma(x: float) -> float:
    """The logistic function ``1 / (1 + exp(-x))``."""
    return 1.0 / (1.0 + math.exp(-x))


def russian_remittances(st: State) -> float:
    """``rem_ru``: remittances from Russia as a share of GDP."""
    return st.remittances_gdp * st.remittances_russia


def rule_willingness(st: State, c: Stances) -> float:
    """``w0 = sigma(b0 + b_rem*rem_ru + b_trade*trade_ru + b_troops*troops
    + b_legal*legal_bar + b_csto*csto + b_border*border_km/1000)``."""
    z = (c.w_intercept + c.w_remittances * russian_remittances(st)
         + c.w_trade * st.russia_trade + c.w_troops * st.russian_troops
         + c.w_legal * st.legal_bar + c.w_csto * float(st.csto)
         + c.w_border * st.afghan_border_km / 1000.0)
    return sigma(z)


def rule_public_support(st: State, c: Stances) -> float:
    """``p0 = sigma(c0 + c_poll*logit(us_approval) + c_rem*rem_ru + c_troops*troops)``,
    the poll clipped to :data:`POLL_CLIP`."""
    a = min(max(st.us_approval, POLL_CLIP[0]), POLL_CLIP[1])
    z = (c.p_intercept + c.p_poll * math.log(a / (1.0 - a))
         + c.p_remittances * russian_remittances(st) + c.p_troops * st.russian_troops)
    return sigma(z)
