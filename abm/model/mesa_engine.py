"""The Mesa engine: one :class:`mesa.Model` per trial, agreeing with the numpy core.

This is the second engine behind ``simulate(..., engine="mesa")``. Each trial is a
:class:`BasingModel` holding one :class:`StateAgent` per candidate host state, placed on a
Mesa :class:`~mesa.discrete_space.Network` built with networkx from the influence matrix
``W``. Russia, the United States and Afghanistan are model-level drivers read from the
:class:`~abm.model.compile.Compiled` arrays for the current month. The month is not
restated here: each step, the model gathers its agents' values into one trial's arrays,
calls :func:`abm.model.step.month_step` (the function the numpy engine calls for every
trial at once, with the influence matrix read back from the Mesa network), and each agent
takes its own row of the result. The same float operations run in the same order as in
:func:`abm.model.numpy_engine.run_blocks`, so trial ``i`` ends bit for bit where the numpy
engine's trial ``i`` ends.

The tape (a contract)
---------------------
The agents never draw random numbers. A model replays a *tape*: the draws of
:mod:`abm.model.rng`, generated exactly as the core generates them and stored by month.

For block ``b`` of a run with root seed sequence ``root``, :func:`block_tape` calls
``abm.model.rng.block_generators(root, b)`` once and then ``abm.model.rng.draw_month``
once per month ``t = 0 .. T-1`` into ``MonthDraws.empty(BLOCK_SIZE, S, cm.noise_on)``, copying each
month into

==============  ==========================  ==============================================
field           shape                       use in month ``t``
==============  ==========================  ==============================================
``u_threat``    ``(T, BLOCK_SIZE, S)``      incidents, ``poisson_inverse`` (per agent)
``u_drill``     ``(T, BLOCK_SIZE)``         drills, ``poisson_inverse`` (per model)
``z_p``         ``(T, BLOCK_SIZE, S)``      opinion noise; ``None`` when noise is off
``z_w``         ``(T, BLOCK_SIZE, S)``      willingness noise; ``None`` when noise is off
``u_decide``    ``(T, BLOCK_SIZE, S)``      agreement or closure (per agent)
``u_consent``   ``(T, BLOCK_SIZE, S)``      CSTO consent (per agent)
==============  ==========================  ==============================================

Trial ``i`` is row ``i % BLOCK_SIZE`` of block ``i // BLOCK_SIZE``; its
:class:`TrialTape` is that row, arrays ``(T, S)`` (``u_drill``: ``(T,)``), and state ``j``
(scenario order) reads column ``j``. Month ``t`` of the tape does not depend on the
horizon, so a shorter run replays a prefix of the same trajectory.

Month ``t`` of :meth:`BasingModel.step`: every agent takes the attributes in force for
month ``t`` (after shocks, ``agents.do("observe")``); the model runs the month step on the
agents' values and this trial's row of the tape; every agent applies its row of the
result and counts its events (``agents.do("apply")``); the :class:`~mesa.DataCollector`
records month ``t + 1``.

Mesa's own generators (``model.rng``, ``model.random``) are seeded (see
:func:`mesa_seed`) so that nothing depends on OS entropy, but the dynamics never use
them.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import mesa
import networkx as nx
import numpy as np
from mesa.discrete_space import FixedAgent, Network

from ..scenario import Scenario, load_scenario
from .accumulators import new_accumulators, record_month
from .compile import Compiled, compile_scenario, stack
from .dynamics import FREE, OPEN
from .kernels import resolve_kernel
from .numpy_engine import split_result
from .outcomes import OUTCOMES, ChunkResult
from .rng import (
    BLOCK_SIZE,
    MESA_STREAM,
    MonthDraws,
    block_generators,
    draw_month,
    mesa_seed,
    resolve_seed,
)
from .step import TrialState, month_step, new_record, update_record

__all__ = [
    "BlockTape",
    "TrialTape",
    "StateAgent",
    "BasingModel",
    "block_tape",
    "influence_graph",
    "mesa_seed",
    "model_for_trial",
    "run_blocks_mesa",
    "MESA_STREAM",
]

# --------------------------------------------------------------------------- the tape


@dataclass(frozen=True)
class TrialTape:
    """The draws of one trial, by month. See the module docstring for the contract.

    Attributes
    ----------
    u_threat, u_decide, u_consent : ndarray, shape (T, S)
        Uniforms in [0, 1).
    u_drill : ndarray, shape (T,)
        Uniforms in [0, 1).
    z_p, z_w : ndarray, shape (T, S), or None
        Standard normals; ``None`` when both noise scales are zero.
    """

    u_threat: np.ndarray
    u_drill: np.ndarray
    z_p: np.ndarray | None
    z_w: np.ndarray | None
    u_decide: np.ndarray
    u_consent: np.ndarray

    @property
    def T(self) -> int:
        """Months of draws on the tape."""
        return self.u_drill.shape[0]


@dataclass(frozen=True)
class BlockTape:
    """The draws of one block of :data:`~abm.model.rng.BLOCK_SIZE` trials.

    Arrays have shape ``(T, BLOCK_SIZE, S)``; ``u_drill`` has shape ``(T, BLOCK_SIZE)``.
    """

    block: int
    u_threat: np.ndarray
    u_drill: np.ndarray
    z_p: np.ndarray | None
    z_w: np.ndarray | None
    u_decide: np.ndarray
    u_consent: np.ndarray

    def trial(self, row: int, copy: bool = False) -> TrialTape:
        """Row ``row`` of the block as a :class:`TrialTape` (views unless ``copy``)."""
        def take(a: np.ndarray | None) -> np.ndarray | None:
            if a is None:
                return None
            x = a[:, row]
            return x.copy() if copy else x

        return TrialTape(take(self.u_threat), take(self.u_drill), take(self.z_p),
                         take(self.z_w), take(self.u_decide), take(self.u_consent))


def block_tape(cm: Compiled, root: np.random.SeedSequence, block: int) -> BlockTape:
    """Generate block ``block``'s draws for months ``0 .. cm.T - 1``, as the core does.

    Parameters
    ----------
    cm : Compiled
        The scenario as arrays (its ``T``, ``S`` and ``noise_on`` fix the draws).
    root : SeedSequence
        The run's root seed sequence.
    block : int
        Block index (trials ``block * BLOCK_SIZE`` onwards).

    Returns
    -------
    BlockTape
    """
    T, S, B = cm.T, cm.S, BLOCK_SIZE
    gens = [block_generators(root, block)]
    month = MonthDraws.empty(B, S, cm.noise_on)
    out = {name: np.empty((T, B, S)) for name in ("u_threat", "u_decide", "u_consent")}
    out["u_drill"] = np.empty((T, B))
    noise = {name: (np.empty((T, B, S)) if cm.noise_on else None) for name in ("z_p", "z_w")}
    for t in range(T):
        draw_month(gens, month)
        for name, arr in out.items():
            arr[t] = getattr(month, name)
        for name, arr in noise.items():
            if arr is not None:
                arr[t] = getattr(month, name)
    return BlockTape(block=block, **out, **noise)


# --------------------------------------------------------------------------- agents


class StateAgent(FixedAgent):
    """A candidate host state, fixed to its node of the influence network.

    Parameters
    ----------
    model : BasingModel
        The model (a trial) the agent belongs to.
    index : int
        Position of the state in the scenario (column of every ``(T, S)`` array).

    Attributes
    ----------
    id : str
        State code, e.g. ``"KAZ"``.
    csto : bool
        CSTO member.
    exposure : float
        Afghan border length / 1000 km, times the state's ``spillover_exposure``.
    dependence, legal_bar, responsiveness, stubbornness, w0, p0 : float
        Attributes in force for the current month (after shocks); ``w0``, ``p0`` are the
        Friedkin-Johnsen anchors of willingness and public support.
    w, p : float
        Willingness and public support, in [0, 1].
    s : float
        Threat stock from Afghan spillover, >= 0.
    h : bool
        Hosting a US base.
    phase : int
        The base life-cycle phase (:data:`abm.model.dynamics.PHASES`: 0 free, 1 talks,
        2 open, 3 notice, 4 cooling); ``h`` is true in ``open`` and ``notice``.
    timer : int
        Months left in the talks, the notice or the cooling-off.
    first_base_month, months_hosted, closed, vetoes, incidents, openings, notices, \
notices_withdrawn, first_base_closed_month
        The agent's outcome record (:data:`abm.model.outcomes.OUTCOMES`): ``t + 1`` if a
        base first opened during month ``t``, 0 if hosting at month 0, -1 if never;
        months that ended with a base; a base was closed; CSTO vetoes; incidents; bases
        opened; notices given and withdrawn; ``t + 1`` if the first base closed during
        month ``t``, -1 if not.
    """

    def __init__(self, model: BasingModel, index: int) -> None:
        super().__init__(model)
        cm = model.cm
        self.index = index
        self.id = cm.ids[index]
        self.csto = bool(cm.csto[index])
        self.exposure = float(cm.exposure[index])
        self.w = float(cm.w_init[index])
        self.p = float(cm.p_init[index])
        self.s = 0.0
        self.h = bool(cm.h_init[index])
        self.phase = OPEN if self.h else FREE
        self.timer = 0
        for o in OUTCOMES:  # the counters; the final_* are read from w, p, s, h
            if not o.name.startswith("final_"):
                setattr(self, o.name, False if o.dtype is np.bool_ else
                        (o.missing if o.missing is not None else 0))
        self.first_base_month = 0 if self.h else -1
        self.observe()

    def observe(self) -> None:
        """Take the attributes in force for the model's current month (shocks included)."""
        cm, i = self.model.cm, self.index
        t = min(self.model.month, cm.T - 1) if cm.T else 0
        mo = cm.monthly
        if cm.T:
            self.dependence = mo["dep"][t, i]
            self.legal_bar = mo["legal_bar"][t, i]
            self.responsiveness = mo["resp"][t, i]
            self.stubbornness = mo["stub"][t, i]
            self.w0 = mo["w0"][t, i]
            self.p0 = mo["p0"][t, i]

    def listen_weights(self) -> np.ndarray:
        """Row ``W_i`` rebuilt from the network: own weight and the weights of the ties.

        Returns
        -------
        ndarray, shape (S,)
        """
        G = self.model.grid.G
        row = np.zeros(self.model.cm.S)
        row[self.index] = G.nodes[self.index]["self_weight"]
        for j in self.cell.connections:
            row[j] = G.edges[self.index, j]["weight"]
        return row

    def apply(self) -> None:
        """Take this agent's row of the month just computed, and count its events."""
        m, i = self.model, self.index
        x, rec = m.next_state, m.record
        self.w, self.p = float(x.w[0, 0, i]), float(x.p[0, 0, i])
        self.s, self.h = float(x.s[0, 0, i]), bool(x.h[0, 0, i])
        self.phase, self.timer = int(x.phase[0, 0, i]), int(x.timer[0, 0, i])
        for o in OUTCOMES:
            if o.name in rec:
                v = rec[o.name][0, 0, i]
                setattr(self, o.name, bool(v) if o.dtype is np.bool_ else int(v))


# --------------------------------------------------------------------------- the model


def influence_graph(cm: Compiled) -> nx.DiGraph:
    """The influence matrix as a directed graph of who listens to whom.

    Node ``i`` (attributes ``id`` and ``self_weight = W_ii``) has an edge ``i -> j`` with
    ``weight = W_ij`` for every other state ``j`` it listens to (``W_ij > 0``), so a
    node's Mesa neighbourhood is the set of states that move it.
    """
    G = nx.DiGraph()
    for i, sid in enumerate(cm.ids):
        G.add_node(i, id=sid, self_weight=float(cm.W[i, i]))
    for i in range(cm.S):
        for j in range(cm.S):
            if i != j and cm.W[i, j] != 0.0:
                G.add_edge(i, j, weight=float(cm.W[i, j]))
    return G


class BasingModel(mesa.Model):
    """One trial of a scenario, as Mesa agents replaying a tape of draws.

    Parameters
    ----------
    cm : Compiled
        The scenario as arrays (:func:`abm.model.compile.compile_scenario`).
    tape : TrialTape
        This trial's draws, at least ``cm.T`` months (see the module docstring).
    trial : int, optional
        The trial's index in its run, for reference only.
    rng : SeedSequence, int or Generator, optional
        Seed for Mesa's own generators, which the dynamics never use. Default: 0, so a
        model never depends on OS entropy.
    kernel : str, optional
        ``"compiled"`` (default): each month runs the compiled kernel's per-trial code;
        ``"numpy"``: :func:`abm.model.step.month_step`. Same numbers either way.
    prepared : abm.model.compiled.Prepared, optional
        The scenario prepared for the compiled kernel, shared by a run's models.

    Attributes
    ----------
    month : int
        Months simulated so far (the month the next :meth:`step` simulates).
    states : tuple of StateAgent
        The agents in scenario order.
    grid : mesa.discrete_space.Network
        The influence network (:func:`influence_graph`).
    pulse : ndarray, shape (1,)
        Region-wide drill pulse currently added to the pressure on every state.
    datacollector : mesa.DataCollector
        ``w``, ``p``, ``s``, ``h`` (and ``state``, the code) per agent per month; Mesa's
        ``Step`` is the month, 0 being the start; model-level ``pulse``.
    seed : int or None
        The run's seed (root entropy) when built by :func:`model_for_trial`.

    Examples
    --------
    >>> from abm.model.mesa_engine import model_for_trial
    >>> model = model_for_trial("experiments/baseline_2021.toml", trial=7)  # doctest: +SKIP
    >>> model.step(); model.run()                                            # doctest: +SKIP
    >>> model.datacollector.get_agent_vars_dataframe().xs(36, level="Step")  # doctest: +SKIP
    """

    def __init__(self, cm: Compiled, tape: TrialTape, *, trial: int | None = None,
                 rng: np.random.SeedSequence | int | np.random.Generator | None = None,
                 kernel: str | None = None, prepared: Any = None) -> None:
        if tape.T < cm.T:
            raise ValueError(f"the tape holds {tape.T} months of draws; the scenario needs "
                             f"{cm.T} (horizon_months)")
        if tape.u_threat.shape[1:] != (cm.S,):
            raise ValueError(f"the tape has {tape.u_threat.shape[1:]} states per month; "
                             f"the scenario has ({cm.S},)")
        if cm.noise_on and tape.z_p is None:
            raise ValueError("the scenario has noise but the tape holds no normal draws")
        super().__init__(rng=0 if rng is None else rng)
        self.cm = cm
        self.tape = tape
        self.trial = trial
        self.seed: int | None = None  # the run's seed, when known (model_for_trial sets it)
        self.month = 0
        self.pulse = np.zeros(1)
        self.grid = Network(influence_graph(cm), random=self.random)
        self.states = tuple(StateAgent(self, i) for i in range(cm.S))
        for agent in self.states:
            agent.cell = self.grid[agent.index]
        # the month step's inputs: this scenario as a batch of one point, with the
        # influence matrix read back from the network the agents sit on
        W = np.stack([a.listen_weights() for a in self.states])
        self.batch = replace(stack([cm]), W=W[None, None])
        self.kernel = resolve_kernel(kernel)
        self._prepared = None
        if self.kernel == "compiled":
            from .compiled import prepare

            # a run's models share one preparation of the scenario, made from the same W
            if prepared is None or not np.array_equal(prepared.W[0], W):
                prepared = prepare(self.batch)
            self._prepared = prepared
        self.record = new_record(self._gather())
        self.next_state: TrialState | None = None
        self.datacollector = mesa.DataCollector(
            model_reporters={"pulse": "pulse_value"},
            agent_reporters={"state": "id", "w": "w", "p": "p", "s": "s", "h": "h"},
        )
        self.datacollector.collect(self)
        self.running = cm.T > 0

    @property
    def pulse_value(self) -> float:
        """The drill pulse as a float (for the DataCollector)."""
        return float(self.pulse[0])

    def _gather(self) -> TrialState:
        """The agents' current values as one trial's arrays, shape ``(1, 1, S)``."""
        a = self.states
        return TrialState(
            w=np.array([[[x.w for x in a]]]), p=np.array([[[x.p for x in a]]]),
            s=np.array([[[x.s for x in a]]]), h=np.array([[[x.h for x in a]]], dtype=bool),
            pulse=self.pulse.reshape(1, 1, 1).copy(),
            phase=np.array([[[x.phase for x in a]]], dtype=np.int8),
            timer=np.array([[[x.timer for x in a]]], dtype=np.int32))

    def _draws(self, t: int) -> MonthDraws:
        tp = self.tape

        def row(a: np.ndarray | None) -> np.ndarray | None:
            return None if a is None else a[t:t + 1]

        return MonthDraws(row(tp.u_threat), tp.u_drill[t:t + 1], row(tp.z_p), row(tp.z_w),
                          row(tp.u_decide), row(tp.u_consent))

    def step(self) -> None:
        """Simulate month ``self.month`` and record the start of the next month."""
        cm, t = self.cm, self.month
        if t >= cm.T:
            self.steps -= 1  # Mesa counted this call before it reached us
            raise ValueError(f"the model has run its horizon of {cm.T} months")
        self.agents.do("observe")
        if self._prepared is not None:
            x = self._compiled_step(t)
        else:
            x, ev = month_step(self._gather(), self.batch, t, self._draws(t))
            update_record(self.record, ev, x, t)
        self.next_state = x
        self.pulse = x.pulse.reshape(1)
        self.agents.do("apply")
        self.next_state = None
        self.month = t + 1
        self.running = self.month < cm.T
        self.datacollector.collect(self)

    def _compiled_step(self, t: int) -> TrialState:
        """Month ``t`` with the compiled kernel's own per-trial code (the same machine code
        the vectorised engine runs for every trial), on the agents' values."""
        from .compiled import month_step_row

        x = self._gather()
        S = self.cm.S
        state = {"w": x.w.reshape(S), "p": x.p.reshape(S), "s": x.s.reshape(S),
                 "h": x.h.reshape(S), "pulse": x.pulse.reshape(1),
                 "phase": x.phase.reshape(S), "timer": x.timer.reshape(S),
                 **{k: v.reshape(S) for k, v in self.record.items()}}
        d = self._draws(t)
        row = {k: (None if v is None else v.reshape(-1)) for k, v in vars(d).items()}
        month_step_row(self._prepared, t, state, row)
        return x

    def run(self) -> BasingModel:
        """Step to the horizon; returns the model for chaining."""
        while self.month < self.cm.T:
            self.step()
        return self

    def trajectories(self) -> dict[str, np.ndarray]:
        """The recorded ``w``, ``p``, ``s``, ``h``, arrays of shape ``(month + 1, S)``.

        Read from the DataCollector: row ``t`` is the start of month ``t``, columns are
        states in scenario order.
        """
        df = self.datacollector.get_agent_vars_dataframe()
        n = self.month + 1
        return {v: df[v].to_numpy().reshape(n, self.cm.S) for v in ("w", "p", "s", "h")}

    def outcomes(self) -> dict[str, np.ndarray]:
        """The outcome record (:data:`abm.model.outcomes.OUTCOMES`) read from the agents,
        arrays of shape ``(S,)`` in the record's dtypes."""
        final = {"final_w": "w", "final_p": "p", "final_s": "s", "final_h": "h"}
        return {o.name: np.array([getattr(a, final.get(o.name, o.name)) for a in self.states],
                                 dtype=o.dtype) for o in OUTCOMES}


def _release(model: BasingModel) -> None:
    # Mesa 3.3 keys its unique_id counters by model instance in a class-level dict, which
    # would keep every finished model (and its view of a block tape) alive forever.
    mesa.Agent._ids.pop(model, None)


# --------------------------------------------------------------------------- engine


def _trial_models(cm: Compiled, root: np.random.SeedSequence, first_block: int,
                  n_blocks: int, n_trials: int, kernel: str | None
                  ) -> Iterator[BasingModel]:
    prepared = None
    for b in range(first_block, first_block + n_blocks):
        rows = max(0, min(BLOCK_SIZE, n_trials - b * BLOCK_SIZE))
        if rows == 0:
            continue
        tape = block_tape(cm, root, b)
        if prepared is None and resolve_kernel(kernel) == "compiled":
            from .compiled import prepare

            prepared = prepare(stack([cm]))
        for row in range(rows):
            trial = b * BLOCK_SIZE + row
            yield BasingModel(cm, tape.trial(row), trial=trial, rng=mesa_seed(root, trial),
                              kernel=kernel, prepared=prepared)


def run_blocks_mesa(cm: Compiled, root: np.random.SeedSequence, first_block: int,
                    n_blocks: int, n_trials: int, kernel: str | None = None) -> ChunkResult:
    """Simulate blocks ``first_block .. first_block + n_blocks - 1`` with Mesa agents.

    Same signature and result as :func:`abm.model.numpy_engine.run_blocks`: every valid trial
    (``< n_trials``) of the blocks runs as a :class:`BasingModel` on its row of the
    block's tape; the per-month accumulators are computed from the trials' recorded
    trajectories with the core's own :func:`~abm.model.accumulators.hist_counts` and
    :func:`~abm.model.accumulators.fixed_sum`, so they are integers equal to the core's.

    Parameters
    ----------
    cm : Compiled
        The scenario as arrays.
    root : SeedSequence
        The run's root seed sequence (see :mod:`abm.model.rng`).
    first_block, n_blocks : int
        Which blocks.
    n_trials : int
        Total trials in the run; rows at or beyond it are not simulated.
    kernel : str, optional
        Whose month step the models run (:mod:`abm.model.kernels`): ``"compiled"`` (the
        default, the compiled kernel's per-trial code) or ``"numpy"`` (``month_step``).

    Returns
    -------
    ChunkResult for the trials of these blocks that are ``< n_trials``.
    """
    T, S = cm.T, cm.S
    start = first_block * BLOCK_SIZE
    outs: list[dict[str, np.ndarray]] = []
    traj: list[dict[str, np.ndarray]] = []
    for model in _trial_models(cm, root, first_block, n_blocks, n_trials, kernel):
        model.run()
        outs.append(model.outcomes())
        traj.append(model.trajectories())
        _release(model)
    m = len(outs)

    def stack(name: str, dtype: type | np.dtype) -> np.ndarray:
        if m == 0:
            return np.zeros((0, S), dtype=dtype)
        return np.stack([o[name] for o in outs])

    w = np.stack([x["w"] for x in traj]) if m else np.zeros((0, T + 1, S))
    p = np.stack([x["p"] for x in traj]) if m else np.zeros((0, T + 1, S))
    h = np.stack([x["h"] for x in traj]).astype(bool) if m else np.zeros((0, T + 1, S), bool)
    acc = new_accumulators(1, T, S)
    for t in range(T + 1):
        record_month(acc, 0, t, w[:, t], p[:, t], h[:, t])
    out = {o.name: stack(o.name, o.dtype) for o in OUTCOMES}
    out.update({k: v[0] for k, v in acc.items()})
    return split_result(start, out)


# --------------------------------------------------------------------------- notebooks


def model_for_trial(scenario: Scenario | str | Path, trial: int,
                    seed: int | np.random.SeedSequence | np.random.Generator | None = None,
                    *, months: int | None = None, kernel: str | None = None
                    ) -> BasingModel:
    """The Mesa model of one trial of a run, not yet stepped.

    Trial ``trial`` of ``simulate(scenario, seed=seed)`` (any number of trials above
    ``trial``, either engine) follows exactly the trajectory this model follows.

    Parameters
    ----------
    scenario : Scenario or path
        A validated scenario, or a TOML file to load.
    trial : int
        Trial index, >= 0.
    seed : int, SeedSequence, Generator or None, optional
        Default: the scenario's ``seed``; if that is absent too, fresh OS entropy (the
        seed used is then ``model.seed``).
    months : int, optional
        Horizon override (default: ``horizon_months``).
    kernel : str, optional
        ``"compiled"`` (default) or ``"numpy"``: whose month step the model runs; both
        give the same trajectory.

    Returns
    -------
    BasingModel
        Call ``.step()`` month by month or ``.run()``; read
        ``.datacollector.get_agent_vars_dataframe()``.

    Raises
    ------
    TypeError
        If ``trial`` is not an integer.
    ValueError
        If ``trial`` is negative.
    """
    if isinstance(trial, bool) or not isinstance(trial, int | np.integer):
        raise TypeError(f"trial must be an integer, got {trial!r}")
    if trial < 0:
        raise ValueError(f"trial must be >= 0, got {trial}")
    if not isinstance(scenario, Scenario):
        scenario = load_scenario(scenario)
    root = resolve_seed(scenario.seed if seed is None else seed)
    cm = compile_scenario(scenario, horizon=months)
    b, row = divmod(int(trial), BLOCK_SIZE)
    tape = block_tape(cm, root, b).trial(row, copy=True)
    model = BasingModel(cm, tape, trial=int(trial), rng=mesa_seed(root, trial),
                        kernel=kernel)
    model.seed = root.entropy
    return model
