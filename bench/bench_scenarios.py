"""Wall time of the whole incident-scenario suite (every scenarios/*.yaml, every seed), run in-process
the way ``pytest scenarios/`` runs it, with a raw SimPy baseline measured in the same run.

Prints:
- raw SimPy: timeout events per second (the machine's speed today);
- per scenario: seeds, simulated seconds (pre-roll + duration + wind-down, all seeds), wall seconds,
  simulated seconds per wall second, and whether every invariant held;
- the total: wall seconds (goal: the suite under 2 minutes on 2 cores; this runs it on one), CPU
  seconds, simulated seconds per wall second, and the suite's wall time in raw SimPy timeouts
  (wall × the baseline rate: a machine-independent size of the suite).

Run: python bench/bench_scenarios.py [--only NAME ...]
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # `python bench/bench_scenarios.py` from a checkout without an install

from scenarios.runner import WIND_DOWN_S, run_scenario  # noqa: E402
from scenarios.schema import load_scenario  # noqa: E402
from bench_twin import raw_simpy_timeouts  # noqa: E402
from common.cli_errors import print_out  # noqa: E402
from common.files import ArgumentParser  # noqa: E402

GOAL_S = 120.0


def simulated_s(scenario) -> float:
    """Simulated seconds of one run: the market's pre-roll, the agent's run, the wind-down."""
    pre = scenario.preroll_s()
    return pre + scenario.duration_s + WIND_DOWN_S


def main(argv: list[str] | None = None) -> None:
    ap = ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--only", nargs="+", default=None, help="scenario names (file stems) to run; default (no --only): "
                    "all. Given with no name (an unset $NAMES) it is refused: it ran them all")
    args = ap.parse_args(argv)

    files = sorted((ROOT / "scenarios").glob("*.yaml"))
    if args.only:
        unknown = [name for name in args.only if name not in {f.stem for f in files}]
        if unknown:  # before the baseline's seconds of work; a misspelt name would otherwise be left out silently
            ap.error(f"--only: no scenario named {', '.join(map(repr, unknown))} in {ROOT / 'scenarios'} "
                     f"(scenarios: {', '.join(f.stem for f in files)})")
        files = [f for f in files if f.stem in args.only]
    raw = raw_simpy_timeouts()
    print_out(f"raw SimPy timeouts            {raw:12,.0f} events/s   (baseline 1.00)")
    print_out(f"{'scenario':<28} {'seeds':>5} {'sim s':>8} {'wall s':>7} {'sim s/wall s':>13}  invariants")
    total_wall = total_sim = 0.0
    failed = []
    cpu0 = time.process_time()
    for f in files:
        sc = load_scenario(f)
        wall = 0.0
        bad = []
        for seed in sc.seeds:
            t0 = time.perf_counter()
            res = run_scenario(sc, seed, base_dir=f.parent)
            wall += time.perf_counter() - t0
            if not res.ok:
                bad.append(seed)
        sim = simulated_s(sc) * len(sc.seeds)
        total_wall += wall
        total_sim += sim
        failed += [f"{sc.name}[seed {s}]" for s in bad]
        status = "hold" if not bad else f"FAILED on seeds {bad}"
        print_out(f"{sc.name:<28} {len(sc.seeds):>5} {sim:>8,.0f} {wall:>7.2f} {sim / wall:>13,.0f}  {status}")
    cpu = time.process_time() - cpu0
    n_runs = sum(len(load_scenario(f).seeds) for f in files)
    print_out(f"{'total':<28} {n_runs:>5} {total_sim:>8,.0f} {total_wall:>7.2f} {total_sim / total_wall:>13,.0f}  "
              f"{'all hold' if not failed else 'FAILED: ' + ', '.join(failed)}")
    print_out(f"suite wall {total_wall:.2f} s on one core (goal < {GOAL_S:.0f} s on 2 cores: "
              f"{'met' if total_wall < GOAL_S else 'NOT met'}), CPU {cpu:.2f} s; "
              f"= {total_wall * raw / 1e6:,.1f} M raw SimPy timeouts of wall time")


if __name__ == "__main__":
    main()
