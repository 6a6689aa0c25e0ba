"""``python -m scenarios``: run or check incident scenarios outside pytest.

    python -m scenarios run FILE [--seed S] [--out DIR] [--agent MODULE_OR_FILE:CLASS]
    python -m scenarios check FILE...
    python -m scenarios draw RUN_DIR [--out PNG]
"""
from __future__ import annotations

import argparse
import importlib
import importlib.util
import sys
from pathlib import Path

if __name__ == "__main__":  # first: the imports below take a second or so
    from common.stop_signals import exit_at_once
    exit_at_once("before the run started")

from scenarios.invariants import NAMES
from scenarios.schema import ScenarioError, load_scenario
from common.cli_errors import fail, print_note, print_out
from common.files import ArgumentParser, lacks_matplotlib, make_output_folder
from common.stop_signals import remove_made_folders
from common.units import non_empty, parse_seed

EPILOG = f"""\
A scenario is a YAML file (see scenarios/*.yaml and the README): the market, twin parameter
overrides, a chaos schedule, the agent's starting state and config, a duration and the
invariants that must hold. `run` writes a run folder: decisions.jsonl (every decision record),
level_history.json (safety and exposure transitions), samples.npz (the venue sampled on a grid, our
resting orders at each sample), result.json (which invariants broke, when), summary.json, scenario.json
(the scenario as it ran, every default filled in), postmortem.json on a Kill, and
timeline.png (mid and quotes, position, safety and exposure levels, quota, faults shaded).
The result is written and printed before the timeline is drawn (a few seconds, said on stderr).
Exit status: 0 when every invariant holds, 1 when one breaks, 2 for a bad file or --out, 130 when
Ctrl-C cut the run (no result; the decision log so far stays); SIGTERM and SIGHUP alike (exit 143 and 129:
128 + the signal's number). One once the run has ended keeps its result, the same status: while the result is
printed it waits for its last line, then is said; while the timeline is drawn it leaves no timeline.png:
`python -m scenarios draw RUN_DIR` draws it from the folder.

Invariants: {", ".join(NAMES)}.
"""


def _load_agent(spec: str) -> type:
    """'package.module:Class' or 'path/to/file.py:Class' (the naive agents live in the tests), a subclass of
    AgentCore; ValueError naming the spec and what is wrong with it."""
    from agent.core import AgentCore

    mod_name, _, cls_name = spec.rpartition(":")
    if not mod_name or not cls_name:
        raise ValueError(f"--agent {spec!r}: expected MODULE:CLASS or FILE.py:CLASS")
    if mod_name.endswith(".py") and not Path(mod_name).exists():  # (said here: the except below would wrap it)
        raise ValueError(f"--agent {spec!r}: no file {mod_name}")
    try:
        if mod_name.endswith(".py"):
            path = Path(mod_name)
            s = importlib.util.spec_from_file_location(path.stem, path)
            if s is None:
                raise ImportError(f"no loader for {path}")
            module = importlib.util.module_from_spec(s)
            s.loader.exec_module(module)
        else:
            module = importlib.import_module(mod_name)
    except (ImportError, SyntaxError) as e:
        raise ValueError(f"--agent {spec!r}: cannot import {mod_name}: {e}") from None
    except Exception as e:  # the file's own code raising as it loads, or a folder named x.py: a traceback, exit 1
        # (which says an invariant broke)
        raise ValueError(f"--agent {spec!r}: importing {mod_name} raised {type(e).__name__}: {e}") from None
    cls = getattr(module, cls_name, None)
    if cls is None:
        raise ValueError(f"--agent {spec!r}: {mod_name} has no {cls_name}")
    if not (isinstance(cls, type) and issubclass(cls, AgentCore)):
        raise ValueError(f"--agent {spec!r}: {cls_name} is not a subclass of agent.core.AgentCore")
    return cls


def _file(text: str) -> Path:
    """A scenario file's path; an empty one refused (``Path("")`` is the current folder: "." was named instead)."""
    return Path(non_empty(text))


def _draw(run_dir: Path, png: Path | None, own_command_line: bool) -> int:
    """``draw``: the timeline of the run in ``run_dir`` drawn again, from what the folder keeps."""
    lacking = lacks_matplotlib("the timeline")
    if lacking:
        return fail(lacking)
    from scenarios.runner import draw_timeline, read_run_folder
    from common.stop_signals import StopSignal, begun, exit_status, stop_signals_interrupt

    try:
        result, note = read_run_folder(run_dir)
    except ValueError as e:
        return fail(str(e))
    if note:
        print_note(note)
    png = png if png is not None else run_dir / "timeline.png"
    begun()
    try:
        with stop_signals_interrupt(install=own_command_line):
            print_note(f"drawing the timeline (a few seconds): {png}")
            draw_timeline(result, run_dir, png)
    except KeyboardInterrupt as e:  # (written whole or not at all: what was there stays)
        by = f" by {e.name}" if isinstance(e, StopSignal) else ""
        print_note(f"interrupted{by}: the timeline was not drawn ({png} is as it was)")
        return exit_status(e)
    except OSError as e:
        return fail(f"{png}: {e.strerror or e}: the timeline was not drawn")
    print_out(f"timeline: {png}")
    return 0


def main(argv: list[str] | None = None) -> int:
    own_command_line = argv is None  # (the process's: SIGTERM and SIGHUP then end a run as Ctrl-C does)
    p = ArgumentParser(prog="python -m scenarios", description="Replay incident scenarios in the twin.",
                                epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="cmd", required=True, metavar="{run,check,draw}")
    r = sub.add_parser("run", help="run one scenario on one seed with a progress bar and write its run folder",
                       description="Run one scenario on one seed and write its run folder.", epilog=EPILOG,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    r.add_argument("file", type=_file, help="the scenario YAML file")
    r.add_argument("--seed", type=parse_seed, default=None, help="seed (default: the file's first seed)")
    r.add_argument("--out", default=None, help="run folder (default: runs/<scenario>-seed<S>)")
    r.add_argument("--agent", type=non_empty, default=None,
                   help="agent class as MODULE:CLASS or FILE.py:CLASS, a subclass of agent.core.AgentCore (default: the"
                        " real AgentCore), e.g. tests/scenarios/naive_agents.py:NaiveKillSwitch")
    r.add_argument("--no-progress", action="store_true", help="no progress bar")
    c = sub.add_parser("check", help="validate scenario files without running them",
                       description="Validate scenario files without running them: every field, bound and trigger, "
                                   "the chaos against the market, the invariants' parameters, as `run` reads them. "
                                   "Prints 'FILE: ok (name, invariants, seeds)' for each valid file, and for each "
                                   "other the file, the field and the value. Exit status: 0 when every file is "
                                   "valid, 2 when one is not.")
    c.add_argument("files", type=_file, nargs="+", help="scenario YAML files")
    d = sub.add_parser("draw", help="draw a run folder's timeline.png again, from what the folder keeps",
                       description="Draw the timeline of a scenario run again from its run folder, without running "
                                   "it: from result.json (the violations), scenario.json (the scenario as it ran: "
                                   "its faults, the position limit) and samples.npz (the venue sampled, and our "
                                   "resting orders at each sample). For a run whose drawing was cut (a Ctrl-C "
                                   "while `run` drew leaves result.json and no timeline.png), or the picture "
                                   "wanted again. It writes RUN_DIR/timeline.png, whole or not at all, over the one "
                                   "there (or --out PNG). A folder written before the orders were kept in "
                                   "samples.npz is drawn without our quotes, said on stderr. Exit status: 0 when "
                                   "drawn, 2 for a folder that is not a finished scenario run's (the folder or the "
                                   "file named, and what is wrong) or a PNG that cannot be written, 130 when Ctrl-C "
                                   "cut the drawing (nothing written; SIGTERM and SIGHUP alike, 143 and 129).")
    d.add_argument("run_dir", type=_file, metavar="RUN_DIR", help="the run folder 'python -m scenarios run' wrote")
    d.add_argument("--out", type=non_empty, default=None, metavar="PNG",
                   help="write the picture there (default: RUN_DIR/timeline.png)")
    args = p.parse_args(argv)

    if args.cmd == "draw":
        return _draw(args.run_dir, Path(args.out) if args.out is not None else None, own_command_line)

    if args.cmd == "check":
        bad = 0
        for f in args.files:
            try:
                sc = load_scenario(f)
                print_out(f"{f}: ok ({sc.name}, {len(sc.invariants)} invariants, seeds {sc.seeds})")
            except ScenarioError as e:  # (a report per file, beside its "FILE: ok" lines: no error: prefix)
                print_note(str(e))
                bad += 1
        return 2 if bad else 0

    try:
        scenario = load_scenario(args.file)
    except ScenarioError as e:
        return fail(str(e))
    lacking = lacks_matplotlib("the run folder's timeline.png")  # before the run, not after it
    if lacking:
        return fail(lacking)
    from agent.audit.records import refuse_earlier_run
    from agent.core import AgentCore
    from agent.session import RunFolderError
    from scenarios.runner import draw_timeline, run_scenario
    from common.stop_signals import StopSignal, begun, exit_status, stop_signals_interrupt

    try:
        agent_cls = _load_agent(args.agent) if args.agent is not None else AgentCore
    except ValueError as e:
        return fail(str(e))
    seed = args.seed if args.seed is not None else scenario.seeds[0]
    made: list[Path] = []  # the folders made for the run: removed, while empty, if it is stopped before it writes
    try:  # (an empty --out is refused, not taken for the default)
        out = make_output_folder(args.out if args.out is not None else Path("runs") / f"{scenario.name}-seed{seed}",
                                 made=made)
        refuse_earlier_run(out, "remove the folder to run it again, or pass another --out")
    except (FileExistsError, ValueError) as e:
        return fail(str(e))
    from common.stop_signals import SignalsBetweenEvents
    begun()
    ended = printed = drawn = False  # the run folder's result written; the result printed; the timeline drawn
    timeline = out / "timeline.png"
    try:
        with stop_signals_interrupt(install=own_command_line):
            result = run_scenario(scenario, seed, agent_cls=agent_cls, out=out, progress=not args.no_progress,
                                  base_dir=args.file.parent)
            ended = True
            with SignalsBetweenEvents():  # a signal while the result is printed waits for its last line, then is said
                print_out(result.report())
                sys.stdout.flush()  # (a pipe's buffer: lost if a signal then ends the process)
                printed = True
            # seconds of matplotlib, said: silent, after the progress bar, it looked like a hang and was Ctrl-C'd
            print_note(f"drawing the timeline (a few seconds): {timeline}")
            try:
                draw_timeline(result, out)
            except OSError as e:  # a full disk: the result stands, written and printed
                return fail(f"--out {out}: {e.strerror or e}: the timeline was not drawn (the result above is in "
                            f"{out / 'result.json'})")
            drawn = True
            with SignalsBetweenEvents():
                print_out(f"run folder: {out}  (timeline: {timeline})")
                sys.stdout.flush()
            return 0 if result.ok else 1
    except KeyboardInterrupt as e:  # a scenario's invariants are over its whole duration: a cut run has no result
        by = f" by {e.name}" if isinstance(e, StopSignal) else ""
        if ended:  # (its result written: kept, and said so)
            if not printed:
                kept = f"its result is in {out / 'result.json'}"
            elif drawn:
                kept = "the result above is whole"
            else:
                kept = f"the result above is whole, in {out / 'result.json'}; the timeline was not drawn"
            print_note(f"interrupted{by} once the run had ended: {kept}")
        elif not (out / "decisions.jsonl").exists():  # before the run folder was begun (the twin being made)
            gone = remove_made_folders(made)
            print_note(f"interrupted{by} before the run started: "
                       + ("nothing written" if gone or not any(out.iterdir()) else f"no decision log in {out}"))
        else:
            print_note(f"interrupted{by}: no result; the decision log so far is in {out / 'decisions.jsonl'}")
        return exit_status(e)
    except ScenarioError as e:  # a starting state the venue cannot hold at the start (an order crossing its book)
        remove_made_folders(made)  # (runner emptied it: nothing ran)
        return fail(f"{args.file}: invalid scenario: {e} (at the agent's start)")
    except RunFolderError as e:  # a full disk: the result the scenario reached is still printed, then the error
        result = getattr(e, "result", None)
        if result is not None:
            print_out(result.report())
        ran = "" if result is None else " (the scenario ran: the result above; the run folder is incomplete)"
        return fail(f"--out {out}: {e}{ran}")


if __name__ == "__main__":
    from common.console import drop_output_unread
    drop_output_unread()  # (| head: not an error)
    sys.exit(main())
