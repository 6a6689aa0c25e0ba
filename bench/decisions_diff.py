"""Differential regression hunt: run one corpus of sessions at two revisions and compare their decisions byte for byte.

decisions_hash checks two sessions; a speed-up can still change a rare path (a disconnect, a 429 storm, a Kill, a
thin market, a retune) that neither reaches. This runs, at a base revision and at this tree:
  - every committed scenario (scenarios/*.yaml) on --seeds;
  - --corpus random chaos scenarios, drawn (derandomized, so the same each time) with the strategy of
    tests/scenarios/test_random_chaos.py (chaos_cases: each body with its seed, a hash of it, as many seeds as
    bodies; until it, a third of the corpus ran on seed 0 and 300 scenarios on some 60 seeds, so a corpus written
    before it differs) and written out as YAML files first (under --work), so both revisions run the same files;
  - `python -m agent`'s session (agent.session.run_session) for --agent-seeds, --agent-minutes each, with the
    default config and each examples/*.yaml;
  - a session retuned (AgentCore.retune, as search/'s environment does) every minute to seeded random parameters;
  - bench_agent's profiles (stress, default: at Full), and stress without the bbo feed and on the thin HIP-3 market;
and compares each run's decisions.jsonl (the retuned and profile sessions: their records and commands) and
summary.json (less its wall-clock keys), and a scenario's outcome (its invariants, a crash). Each revision runs in
a process of its own with PYTHONPATH at its tree (one at a time, niced); a git rev is checked out as a worktree.

Prints a progress line per --batch of runs, then a table: identical and differing runs by kind, and for each
differing run the first file that differs, the first differing line's index and the two lines, shortened.
Exit status 0 when every run is identical, 1 when any differs. A base given as a rev is checked out as a worktree
for the run and removed at its end; the runs stay in --work (or the temporary folder it names) to read.

    python bench/decisions_diff.py --base ba4f897 --corpus 300
    python bench/decisions_diff.py --base /tmp/basetree --corpus 20 --seeds 0-1 --kinds scenario,chaos
"""
from __future__ import annotations

import argparse
import json
import math
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
WALL_KEYS = ("wall_s", "sim_s_per_wall_s")  # the summary's wall-clock figures
KINDS = ("scenario", "chaos", "agent", "retune", "profile")
# bench_agent's profiles at Full, and variants on paths neither digest of decisions_hash takes: the book feed alone
# (no bbo), and the thin HIP-3 market
PROFILES = {"stress": {}, "default": {},
            "stress-nobbo": {"session": {"bbo_feed": False, "book_feed": "standard"}},
            "stress-hip3": {"session": {"coin": "hyna:LIT"}, "quoting": {"order_size": 20.0},
                            "risk": {"max_position": 400.0}}}


# ---------------------------------------------------------------------------------------------- the worker
# Runs inside the revision's own process: it imports that tree's packages only (PYTHONPATH), never this tree's.

def _work_scenario(job: dict, out: Path) -> None:
    import scenarios.runner as runner
    from agent.audit.records import write_json
    from scenarios.schema import load_scenario

    runner.write_run_folder = lambda result, folder: write_json(folder / "summary.json", result.summary)  # no plots
    path = Path(job["file"])
    result = runner.run_scenario(load_scenario(path), job["seed"], out=out, base_dir=path.parent)
    outcome = {"ok": result.ok, "violations": [[v.invariant, v.t, v.message] for v in result.violations],
               "error": result.error.strip().splitlines()[-1] if result.error else None}
    (out / "outcome.json").write_text(json.dumps(outcome, sort_keys=True, default=repr) + "\n")


def _config(path: str | None, **override):
    from agent.config import AgentConfig

    data = AgentConfig().model_dump()
    if path:
        import yaml
        data = AgentConfig.model_validate(yaml.safe_load(Path(path).read_text()) or {}).model_dump()
    for section, values in override.items():
        data[section].update(values)
    return AgentConfig.model_validate(data)


def _work_agent(job: dict, out: Path) -> None:
    from agent.session import run_session

    run_session(_config(job.get("config")), job["seed"], job["minutes"] * 60.0, out=out)


def _merge(data: dict, override: dict) -> dict:
    for k, v in override.items():
        data[k] = _merge(dict(data.get(k) or {}), v) if isinstance(v, dict) else v
    return data


def _logged_session(out: Path, cfg, seed: int, minutes: float, params=None, each_minute=None) -> None:
    """A twin session writing its records (as decisions_hash hashes them) and its commands with their send times."""
    from agent.session import build_session

    class Timed(list):  # the driver's command log, each command with its send time
        def append(self, cmd) -> None:
            list.append(self, f"{ex.env.now!r} {cmd!r}")

    lines: list[str] = []
    timed = Timed()
    ex, _, core, driver = build_session(cfg, seed, params, record_sink=lambda r: lines.append(
        json.dumps(r, sort_keys=True, default=repr)), command_log=timed)
    driver.start()
    for minute in range(math.ceil(minutes)):  # (whole minutes only: --agent-minutes 0.5 ran none, "identical")
        if minute and each_minute is not None:
            lines.append(each_minute(ex, core))
        ex.env.run(until=min(minute + 1, minutes) * 60.0)
    (out / "decisions.jsonl").write_text("\n".join(lines) + "\n")
    (out / "commands.txt").write_text("\n".join(timed) + "\n")


def _work_profile(job: dict, out: Path) -> None:
    """One of bench_agent's profiles (stress, default: the agent at Full), with ``override`` on its config."""
    from agent.config import AgentConfig
    from bench_agent import profile_session

    cfg, params = profile_session(job["profile"])
    cfg = AgentConfig.model_validate(_merge(cfg.model_dump(), job.get("override", {})))
    coin = cfg.session.coin
    if coin != "BTC":  # the twin's market for it: the thin HIP-3 preset, as a scenario's market.preset makes it
        from twin.market.synthetic import SyntheticMarketParams
        from twin.params import TwinParams
        params = (params or TwinParams()).model_copy(update={"markets": {coin: SyntheticMarketParams.thin_hip3()}})
    _logged_session(out, cfg, job["seed"], job["minutes"], params)


def _work_retune(job: dict, out: Path) -> None:
    """A session at Full (or a config's lower ceiling), its quoting parameters set every minute to a point drawn
    from the seed (search.env's action space): the memos a retune must drop. The draws go through search.env's
    decode: a base before its level counts took equal shares (rounding gave 1 and 5 half a share) draws other
    ladder.n_levels, so these runs differ from it by that, not by a regression."""
    import numpy as np

    from search.env import PARAMETERS, config_for, decode

    ceiling = _config(job.get("config")).model_dump()["graduation"]["ceiling"]
    cfg = _config(job.get("config"), graduation={"start_level": "FULL" if ceiling in ("FULL", "OPTIMIZED")
                                                  else ceiling})
    rng = np.random.default_rng(job["seed"])

    def retune(ex, core) -> str:
        c = config_for(decode(rng.uniform(-1.0, 1.0, len(PARAMETERS))), cfg)
        core.retune(glft=c.quoting.glft, ladder=c.quoting.ladder, order_size=c.quoting.order_size,
                    reconcile=c.reconcile)
        return json.dumps({"retuned_at": ex.env.now, "to": c.quoting.model_dump()}, sort_keys=True)

    _logged_session(out, cfg, job["seed"], job["minutes"], each_minute=retune)


def worker(jobs_file: Path) -> int:
    """Run each job of the file into its folder (job["out"]); one that raises leaves error.txt there."""
    import traceback

    for job in json.loads(jobs_file.read_text()):
        out = Path(job["out"])
        out.mkdir(parents=True, exist_ok=True)
        try:
            {"scenario": _work_scenario, "chaos": _work_scenario, "agent": _work_agent, "retune": _work_retune,
             "profile": _work_profile}[job["kind"]](job, out)
        except Exception:
            (out / "error.txt").write_text(traceback.format_exc().strip().splitlines()[-1] + "\n")
    return 0


# ---------------------------------------------------------------------------------------------- the corpus

def chaos_files(n: int, folder: Path, draw_seed: int | None = None) -> list[tuple[Path, int]]:
    """``n`` random chaos scenarios drawn with the test's strategy (derandomized, or from hypothesis' ``draw_seed``),
    written to ``folder``; with the seed each runs on."""
    sys.path[:0] = [str(ROOT), str(ROOT / "tests" / "scenarios")]
    import yaml
    from hypothesis import HealthCheck, Phase, given, seed as draw_from, settings

    from scenarios.random_chaos import universal_invariants
    from test_random_chaos import chaos_cases

    drawn: list[tuple[dict, int]] = []

    @settings(max_examples=n, derandomize=draw_seed is None, database=None, phases=[Phase.generate], deadline=None,
              suppress_health_check=list(HealthCheck))
    @given(case=chaos_cases())
    def draw(case):
        drawn.append(case)

    if draw_seed is not None:
        draw = draw_from(draw_seed)(draw)
    draw()
    folder.mkdir(parents=True, exist_ok=True)
    out = []
    for k, (body, seed) in enumerate(drawn[:n]):
        name = f"chaos_{k:04d}"
        data = {"name": name, "incident": "random chaos", "description": "decisions_diff corpus", **body,
                "seeds": [seed], "invariants": universal_invariants(False)}
        path = folder / f"{name}.yaml"
        path.write_text(yaml.safe_dump(data, sort_keys=False, width=120))
        out.append((path, seed))
    return out


def corpus(args, work: Path) -> list[dict]:
    jobs = []
    kinds = set(args.kinds.split(","))
    if "scenario" in kinds:
        for f in sorted((ROOT / "scenarios").glob("*.yaml")):
            jobs += [{"kind": "scenario", "name": f"{f.stem}@{s}", "file": str(f), "seed": s} for s in args.seeds]
    if "chaos" in kinds and args.corpus:
        jobs += [{"kind": "chaos", "name": f"{p.stem}@{s}", "file": str(p), "seed": s}
                 for p, s in chaos_files(args.corpus, work / "chaos", args.chaos_seed)]
    configs = [None] + [str(p) for p in sorted((ROOT / "examples").glob("*.yaml"))]
    for kind in ("agent", "retune"):
        if kind in kinds:
            jobs += [{"kind": kind, "name": f"{kind}:{Path(c).stem if c else 'default'}@{s}", "config": c, "seed": s,
                      "minutes": args.agent_minutes} for c in configs for s in args.agent_seeds]
    if "profile" in kinds:
        jobs += [{"kind": "profile", "name": f"profile:{p}@{s}", "profile": p.split("-")[0], "override": o, "seed": s,
                  "minutes": args.agent_minutes} for p, o in PROFILES.items() for s in args.agent_seeds]
    return jobs


# ---------------------------------------------------------------------------------------------- comparing

def _lines(folder: Path, name: str) -> list[str]:
    p = folder / name
    if not p.exists():
        return []
    text = p.read_text()
    if name == "summary.json":
        data = json.loads(text)
        for k in WALL_KEYS:
            data.pop(k, None)
        return json.dumps(data, indent=1, sort_keys=True).splitlines()
    return text.splitlines()


def _short(s: str, width: int = 150) -> str:
    return s if len(s) <= width else s[:width] + "…"


def compare(a: Path, b: Path) -> tuple[int, str | None]:
    """(decision lines, the first difference described, or None)."""
    first = ("decisions.jsonl", "summary.json", "outcome.json", "commands.txt")  # (the decision log's line first)
    names = {p.name for p in a.iterdir()} | {p.name for p in b.iterdir()}
    names = sorted((n for n in names if n.endswith((".jsonl", ".json", ".txt"))
                    and n not in ("config.json", "scenario.json")), key=lambda n: (first + (n,)).index(n))
    n_lines = len(_lines(b, "decisions.jsonl"))
    for name in names:
        la, lb = _lines(a, name), _lines(b, name)
        if la == lb:
            continue
        i, x, y = first_difference(la, lb)
        return n_lines, f"{name} line {i} ({len(la)} vs {len(lb)} lines)\n    - {_short(x)}\n    + {_short(y)}"
    return n_lines, None


def first_difference(la: list[str], lb: list[str]) -> tuple[int, str, str]:
    """Where two differing lists of lines first differ: (the line's index, each side's line from 60 characters
    before its first differing character, ``<end>`` for a side that ended)."""
    i = next((k for k, (x, y) in enumerate(zip(la, lb)) if x != y), min(len(la), len(lb)))
    x = la[i] if i < len(la) else "<end>"
    y = lb[i] if i < len(lb) else "<end>"
    if x != "<end>" and y != "<end>":  # where in the line: the first differing character, with context
        m = next((k for k, (p, q) in enumerate(zip(x, y)) if p != q), min(len(x), len(y)))
        cut = max(0, m - 60)
        x, y = "…" * bool(cut) + x[cut:], "…" * bool(cut) + y[cut:]
    return i, x, y


def _tree(base: str, work: Path) -> tuple[Path, bool]:
    """The base's tree, and whether this made it (a worktree, removed at the end: git lists a worktree until it is
    removed, and a user's repository should not keep one per run)."""
    if Path(base).is_dir():
        return Path(base).resolve(), False
    tree = work / f"tree-{base}"
    if tree.exists():
        return tree, False
    subprocess.run(["git", "-C", str(ROOT), "worktree", "add", "--detach", str(tree), base], check=True,
                   capture_output=True)
    return tree, True


def _remove_tree(tree: Path) -> None:
    subprocess.run(["git", "-C", str(ROOT), "worktree", "remove", "--force", str(tree)], capture_output=True)


def _run(tree: Path, jobs: list[dict], jobs_file: Path, python: str) -> None:
    jobs_file.write_text(json.dumps(jobs))
    env = dict(os.environ, PYTHONPATH=str(tree))
    subprocess.run(["nice", "-n", "5", python, str(Path(__file__).resolve()), "--worker", str(jobs_file)],
                   cwd=tree, env=env, check=True)


def _kinds(text: str) -> str:
    """--kinds: a comma-separated selection of KINDS (an unknown one ran nothing, and said all were identical)."""
    given = [k.strip() for k in text.split(",") if k.strip()]
    unknown = [k for k in given if k not in KINDS]
    if not given or unknown:
        raise argparse.ArgumentTypeError(f"expected some of {','.join(KINDS)}, got {text!r}")
    return ",".join(given)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) == 2 and argv[0] == "--worker":  # _run's own call, before this tree's parser: the worker imports its
        tree = os.environ.get("PYTHONPATH", ".")  # revision's packages only, and an older one may lack the parser
        sys.path[0:1] = [tree, os.path.join(tree, "bench")]  # the revision's tree (and its bench_agent), not this one
        return worker(Path(argv[1]))
    from common.files import ArgumentParser  # (hides a key's form in its usage errors, which echo the value refused)
    # (a seed range past 10,000 was a MemoryError traceback, 5-1 ran none; --batch 0, --corpus -5 tracebacks too)
    from common.units import MAX_DURATION_S, MAX_SEEDS, bounded, non_negative_int, parse_seeds, positive_float, \
        positive_int
    ap = ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--base", required=True, help="base revision (a git rev, checked out as a worktree under --work) "
                                                  "or a tree's path; needed, e.g. origin/main")
    ap.add_argument("--head", default=str(ROOT), help="the tree compared with it (default: this one)")
    ap.add_argument("--corpus", type=bounded(non_negative_int, MAX_SEEDS, "each is a run of wall-clock time, twice"),
                    default=300, help="random chaos scenarios (default 300)")  # (--corpus 1e8 drew without end)
    ap.add_argument("--chaos-seed", type=int, default=None,
                    help="draw the random chaos from this hypothesis seed (default: derandomized, the same corpus)")
    ap.add_argument("--seeds", type=parse_seeds, default=parse_seeds("0-9"),
                    help="committed scenarios' seeds (default 0-9)")
    ap.add_argument("--agent-seeds", type=parse_seeds, default=parse_seeds("0-2"),
                    help="seeds of the agent and retuned sessions (default 0-2)")
    ap.add_argument("--agent-minutes", type=bounded(positive_float, MAX_DURATION_S / 60, "a year, simulated"),
                    default=10.0, help="their length, simulated (default 10)")
    ap.add_argument("--kinds", type=_kinds, default=",".join(KINDS), help=f"what to run (default {','.join(KINDS)})")
    ap.add_argument("--batch", type=positive_int, default=10, help="runs per revision's process (default 10)")
    ap.add_argument("--work", type=Path, default=None, help="where runs are written (default: a temporary folder)")
    ap.add_argument("--python", default=sys.executable, help="the interpreter (default: this one)")
    args = ap.parse_args(argv)
    from common.cli_errors import fail
    if not Path(args.head).is_dir():  # (it was a FileNotFoundError traceback at the first run)
        return fail(f"--head {args.head}: not a folder: give a tree's path")
    if shutil.which(args.python) is None:  # (a CalledProcessError traceback at the first batch, its folder left)
        return fail(f"--python {args.python}: not an interpreter that can be run")
    if args.work is not None:
        from common.files import make_output_folder
        try:  # (a file given was a FileExistsError traceback)
            make_output_folder(args.work, "--work")
        except ValueError as e:
            return fail(str(e))
    work = args.work or Path(tempfile.mkdtemp(prefix="decisions_diff-"))
    try:
        base_tree, made = _tree(args.base, work)
    except subprocess.CalledProcessError as e:  # (a rev git does not know, a typo: it was git's traceback, exit 1)
        said = e.stderr.decode(errors="replace").strip() if e.stderr else ""
        if args.work is None:  # (the temporary folder made for it, empty)
            os.rmdir(work)
        return fail(f"--base {args.base}: neither a folder nor a revision git can check out" + (f" ({said})" if said
                                                                                             else ""))
    try:
        return _compare_all(args, work, {"base": base_tree, "head": Path(args.head).resolve()})
    finally:
        if made:
            _remove_tree(base_tree)


def _compare_all(args: argparse.Namespace, work: Path, trees: dict[str, Path]) -> int:
    from common.cli_errors import print_out
    jobs = corpus(args, work)
    print_out(f"{len(jobs)} runs, base {trees['base']}, head {trees['head']}, in {work}", flush=True)
    rows: dict[str, list[int]] = {}
    diffs: list[tuple[str, str]] = []
    errors: list[str] = []  # runs that raised outside the scenario runner (which reports a crash as its outcome)
    lines_total = 0
    for k in range(0, len(jobs), args.batch):
        batch = jobs[k:k + args.batch]
        for side, tree in trees.items():
            mine = [dict(j, out=str(work / side / j["kind"] / j["name"])) for j in batch]
            _run(tree, mine, work / f"jobs-{side}.json", args.python)
        for j in batch:
            n, diff = compare(work / "base" / j["kind"] / j["name"], work / "head" / j["kind"] / j["name"])
            lines_total += n
            row = rows.setdefault(j["kind"], [0, 0, 0])
            row[diff is not None] += 1
            for side in trees:
                err = work / side / j["kind"] / j["name"] / "error.txt"
                if err.exists():
                    row[2] += 1
                    errors.append(f"{j['name']} ({side}): {err.read_text().strip()}")
            if diff:
                diffs.append((j["name"], diff))
        done = min(k + args.batch, len(jobs))
        print_out(f"[{done}/{len(jobs)}] identical {sum(r[0] for r in rows.values())}, differing {len(diffs)}"
                  f"{' (' + ', '.join(d[0] for d in diffs[-3:]) + ')' if diffs else ''}", flush=True)
    print_out(f"\n{'kind':<10}{'runs':>6}{'identical':>11}{'differing':>11}{'raised':>8}")
    for kind, (same, other, raised) in rows.items():
        print_out(f"{kind:<10}{same + other:>6}{same:>11}{other:>11}{raised:>8}")
    print_out(f"decision lines compared: {lines_total}")
    for line in errors:
        print_out(f"raised: {line}")
    for name, diff in diffs:
        print_out(f"\n{name}: {diff}")
    print_out(f"\nthe runs are in {work}")
    return 1 if diffs else 0


if __name__ == "__main__":
    sys.exit(main())
