"""Which driver keeps each state from hosting in the 2021 baseline (docs/model.md).

Run from the repository root: ``.venv/bin/python docs/scripts/driver_table.py``.
Each row removes one driver (or several) from experiments/baseline_2021.toml and prints
P(base) / P(veto) per state, 2,000 trials, seed 1.
"""

from abm.experiment.simulate import simulate
from abm.scenario import load_scenario

B = "experiments/baseline_2021.toml"
ids = ["KAZ", "KGZ", "TJK", "UZB", "TKM", "PAK"]
cases = {
    "baseline": [],
    "no legal bar": [f"states.{i}.legal_bar=0.0" for i in ids],
    "no dependence": [f"states.{i}.russia_dependence=0.0" for i in ids],
    "no consent rule": ["csto.consent_rule=false"],
    "public support 0.8": [f"states.{i}.public_support=0.8" for i in ids],
    "willing (w0=0.7)": [f"states.{i}.willingness=0.7" for i in ids],
    "willing+no rule": [f"states.{i}.willingness=0.7" for i in ids] + ["csto.consent_rule=false"],
    "willing+no bar": [f"states.{i}.willingness=0.7" for i in ids]
    + [f"states.{i}.legal_bar=0.0" for i in ids],
    "willing+no dep": [f"states.{i}.willingness=0.7" for i in ids]
    + [f"states.{i}.russia_dependence=0.0" for i in ids],
    "willing+no pressure": [f"states.{i}.willingness=0.7" for i in ids]
    + [
        "russia.pressure=0",
        "russia.reactive_gain=0",
        "russia.drill_rate=0",
        "russia.inducements=0",
    ],
}


def main() -> None:
    for k, ov in cases.items():
        r = simulate(load_scenario(B, ov), trials=2000, seed=1)
        print(
            f"{k:22s}",
            " ".join(
                f"{i}:{r.summary['states'][i]['p_base']:.2f}/v{r.summary['states'][i]['p_veto']:.2f}"
                for i in ids
            ),
        )


if __name__ == "__main__":
    main()
