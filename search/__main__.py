"""``python -m search``: random search over the agent's quoting parameters in the twin, on a local process pool.

Each trial is one point of ``MarketMakingEnv``'s action space, held for a whole episode; trial 0 is the
config's own values (the baseline every other trial is read against). Every trial runs on the same
episode seeds (common random numbers: the same markets and faults), so the differences between trials
are the parameters'. The results go to the console as a table, best first, and with ``--out`` to
``episodes.jsonl`` (a line per episode as it finishes, append-only: a search that dies keeps what it had done),
``results.json`` (every episode, ranked by trial) and ``best.yaml``, an agent config with the best trial's values
that ``python -m agent --config`` runs. An episode that raises is recorded with its error and parameters, and the
search goes on. Twin sessions are independent and seeded: the work is embarrassingly
parallel, and one machine's cores are the pool; past one machine, an existing distributed engine (Ray)
is the tool, not a home-made one.
"""
from __future__ import annotations

import argparse
import multiprocessing
import os
import signal
import sys
import threading
import time
import traceback
from concurrent.futures import ProcessPoolExecutor
from contextlib import contextmanager
from functools import partial
from pathlib import Path

if __name__ == "__main__":  # first: the imports below and the checks take a second or so
    from common.stop_signals import exit_at_once
    exit_at_once("before the search started")

import numpy as np

from common.cli_errors import fail, print_error, print_note, print_out
from common.files import ArgumentParser, make_output_folder, missing_extra, unreadable
from common.stop_signals import remove_made_folders
from common.units import bounded, non_empty, parse_duration, parse_seed, positive_int

EPILOG = """examples:
  python -m search                                   # 12 trials x 2 seeds, 30-minute episodes, at Full
  python -m search --trials 40 --seeds 3 --episode 1h --workers 4 --out runs/search1
  python -m agent --config runs/search1/best.yaml    # the best trial's parameters, in a session

The reward of an episode is its net PnL (fees included) less an inventory-risk penalty and
escalation_penalty USDC for each safety level escalated (see search/env.py). An episode that raises, or
runs past --episode-timeout of wall-clock time (a hang), is recorded (results.json's "failed", with its error and
parameters; "timed_out" set for the latter) and the search goes on; exit status 1 then.
A worker process killed outright (out of memory, say) has its episodes run again one at a time; one that
dies again alone is recorded as failed.
Exit status 2 for bad arguments or an --out that already holds results, and for an --out that cannot be written
(a full disk: the table is printed first); 130 when Ctrl-C cut the search (the episodes finished are written, the
episodes under way dropped, their workers ended); SIGTERM and SIGHUP alike (exit 143 and 129: 128 + the signal's
number); a signal while the results are printed and written waits for them to be whole, then is said, with the
same exit status."""


MAX_WORKERS = 4 * (os.cpu_count() or 1)  # --workers 1000 started a process per episode, up to 1000
# an episode's default wall-clock limit: 10 minutes, or a tenth of its simulated time if longer (the twin runs a
# 30-minute episode in about a second: a tenth of real time is ten times slower than a loaded core makes it)
EPISODE_TIMEOUT_FLOOR_S = 600.0
EPISODE_TIMEOUT_SHARE = 0.1
MAX_EPISODES = 1_000_000  # --trials x --seeds: 1e8 made every task up front, and ended on a MemoryError traceback


def _episode(task: tuple) -> dict:
    """One trial's episode (in a worker process): the constant action for the whole episode."""
    trial, action, seed, kw = task
    from search.env import MarketMakingEnv
    env = MarketMakingEnv(**kw)
    env.reset(seed=seed)
    total = 0.0
    info: dict = {}
    while True:
        _, r, terminated, truncated, info = env.step(None if action is None else np.asarray(action, np.float32))
        total += r
        if terminated or truncated:
            break
    return {"trial": trial, "seed": seed, "reward": total, "net_pnl_usd": info["net_pnl_usd"],
            "fees_usd": info["fees_usd"], "fills": info["fills"], "escalations": info["escalations"],
            "killed": bool(terminated)}


class EpisodeTimedOut(BaseException):
    """Raised in an episode by its wall-clock timer. Not an Exception: an ``except Exception`` on the way (the agent
    keeps a session going through some) must not swallow it."""


@contextmanager
def _deadline(timeout_s: float | None):
    """Raise ``EpisodeTimedOut`` in this thread once the block has run ``timeout_s`` wall seconds (None: never).

    A watchdog thread raises it here asynchronously (CPython's PyThreadState_SetAsyncExc), at the episode's next
    Python instruction. It was the process's SIGALRM: only the main thread can set a handler, so a search run from a
    thread with --workers 1 failed before its first episode, and its setitimer cancelled a caller's own alarm; the
    watchdog works in any thread, a pool worker's or the caller's, on every platform, and touches no signal. Like the
    signal, it stops a Python loop, not a call into C that never returns to the interpreter."""
    if timeout_s is None:
        yield
        return
    import ctypes
    target = ctypes.c_ulong(threading.get_ident())
    raise_in = ctypes.pythonapi.PyThreadState_SetAsyncExc
    ended = threading.Event()
    lock = threading.Lock()  # (the raise and the block's end exclude each other: none lands after the block)
    fired = []

    def watch() -> None:
        if not ended.wait(timeout_s):
            with lock:
                if not ended.is_set():
                    fired.append(True)
                    raise_in(target, ctypes.py_object(EpisodeTimedOut))
    watchdog = threading.Thread(target=watch, name="episode-timeout", daemon=True)
    watchdog.start()
    try:
        yield
    finally:
        with lock:  # (an exception raised here is the timer's, that fired as the block ended: the caller's to take)
            ended.set()
            if fired:  # raised, perhaps not yet delivered: cleared, so that it cannot land after the block
                raise_in(target, None)
        # (not joined: it can raise no more, and ends at once; a Ctrl-C in a join lost the episode just finished)


# this thread's last episode that finished (_attempt), read by a search cut between its return and its hand-over
_finished = threading.local()


def _attempt(task: tuple, timeout_s: float | None = None) -> dict:
    """``_episode``, or the record of its failure (trial, seed, error, traceback): an exception in one episode (a
    bug its parameters reach, say) ended the whole search, and every episode already done was lost with it. An
    episode still running after ``timeout_s`` wall seconds is stopped and recorded as timed out: a hung one (a loop
    that never ends) stalled a pooled search for ever, its worker busy and the search waiting on it.

    The result is kept in ``_finished`` as the episode returns (CPython runs no signal handler between a Python
    function's return and its caller's store): a Ctrl-C as the timer is put away, or before the caller has it, no
    longer loses it (``_just_finished``)."""
    try:
        with _deadline(timeout_s):
            _finished.result = _episode(task)
            return _finished.result
    except EpisodeTimedOut:
        return {**_failure(task, f"timed out: still running after {timeout_s:g} s of wall-clock time "
                                 f"(--episode-timeout)", traceback.format_exc()), "timed_out": True}
    except Exception as e:
        return _failure(task, f"{type(e).__name__}: {e}", traceback.format_exc())


def _just_finished(task: tuple) -> dict | None:
    """``task``'s episode's result if it finished in this thread (``_attempt``), else None (its work, a test's, keeps
    none, or it was under way)."""
    r = getattr(_finished, "result", None)
    return r if r is not None and (r.get("trial"), r.get("seed")) == (task[0], task[2]) else None


def _failure(task: tuple, error: str, tb: str) -> dict:
    """The record of an episode that did not finish (results.json's "failed")."""
    trial, _, seed, _ = task
    return {"trial": trial, "seed": seed, "error": error, "traceback": tb}


def main(argv: list[str] | None = None) -> int:
    own_command_line = argv is None  # (the process's: SIGTERM and SIGHUP then end a search as Ctrl-C does)
    ap = ArgumentParser(prog="python -m search", description="Random search over the agent's quoting "
                                 "parameters in the twin, on a local process pool (search/env.py's environment).",
                                 epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--trials", type=positive_int, default=12, help="parameter points to try, the baseline "
                    "included (default 12; --trials x --seeds at most 1,000,000)")
    ap.add_argument("--seeds", type=positive_int, default=2, help="episodes per trial, on seeds --seed, "
                    "--seed+1, ... (default 2)")
    ap.add_argument("--episode", default="30m", help="simulated time per episode: 1800, 30m, 1h (default 30m)")
    ap.add_argument("--step", default="5m", help="simulated time per environment step (default 5m)")
    ap.add_argument("--level", default="FULL", help="exposure level the agent trades at, held for the episode: "
                    "MicroLive, Ramping, Cautious, Full or Optimized, any case, '_' or '-' ignored (default FULL)")
    ap.add_argument("--seed", type=parse_seed, default=0, help="seed of the trials' draws and the first episode "
                    "(default 0)")
    ap.add_argument("--workers", type=bounded(positive_int, MAX_WORKERS, f"4 for each of this machine's "
                                              f"{os.cpu_count() or 1} cores: more only share them, each with its "
                                              f"own memory"),
                    default=min(4, os.cpu_count() or 1),
                    help=f"worker processes (default: the cores, at most 4; 1 runs in this process; at most "
                         f"{MAX_WORKERS}, 4 a core)")
    ap.add_argument("--episode-timeout", help="wall-clock time an episode may run before it is stopped and recorded "
                    "as failed (timed out): 90, 10m, 1h (default: 10m, or a tenth of --episode if longer)")
    ap.add_argument("--config", type=non_empty,
                    help="agent config YAML the trials start from (default: the shipped defaults)")
    ap.add_argument("--out", help="folder for episodes.jsonl, results.json and best.yaml")
    ap.add_argument("--quiet", action="store_true", help="no progress bar")
    args = ap.parse_args(argv)

    from agent.config import AgentConfig
    try:
        from search.env import PARAMETERS, decode, values_of
    except ImportError as e:  # gymnasium is the search extra's
        return fail(missing_extra(e, "search"))

    try:
        episode_s = parse_duration(args.episode, "--episode")
        step_s = parse_duration(args.step, "--step")
        timeout_s = (max(EPISODE_TIMEOUT_FLOOR_S, EPISODE_TIMEOUT_SHARE * episode_s) if args.episode_timeout is None
                     else parse_duration(args.episode_timeout, "--episode-timeout"))
        if step_s > episode_s:
            raise ValueError(f"--step {args.step!r} is longer than --episode {args.episode!r}")
        if args.trials * args.seeds > MAX_EPISODES:  # every trial's draw and task is made up front
            raise ValueError(f"--trials {args.trials} x --seeds {args.seeds}: {args.trials * args.seeds:,} episodes, "
                             f"at most {MAX_EPISODES:,} (months of work on one machine; more is a typo)")
        base = AgentConfig.load(args.config) if args.config else AgentConfig()
        problem = _market_problem(base.session.coin, args.config)
        if problem is not None:
            raise ValueError(problem)
        from agent.graduation.exposure import level_named, places_orders
        from search.env import MarketMakingEnv
        named = level_named(args.level)
        if named is None or not places_orders(named):  # (the env's own error named MarketMakingEnv, not --level)
            raise ValueError(f"--level {args.level!r}: expected one that places orders: MicroLive, Ramping, Cautious, "
                             f"Full or Optimized")
        args.level = named.name  # as the agent names it, not as typed: results.json records it (it held "micro-live")
        MarketMakingEnv(agent_config=base, step_s=step_s, episode_s=episode_s, level=args.level)
    except OSError as e:  # the file named by --config
        return fail(unreadable("--config", e))
    except ValueError as e:
        return fail(str(e))
    out = Path(args.out) if args.out is not None else None
    # a search's results, or the episodes of one that died (an empty journal, from a search stopped before its first
    # episode ended, holds nothing: the folder is free again)
    try:
        held = [f for f in ("results.json", "episodes.jsonl") if out is not None and (out / f).exists()
                and (f == "results.json" or (out / f).stat().st_size > 0)]
    except OSError as e:  # a name too long, a folder not searchable
        return fail(f"--out {args.out}: {e.strerror or e}")
    if held:
        return fail(f"{out / held[0]} exists: choose another --out, or remove it")
    made: list[Path] = []  # the folders made for it: removed if it is stopped before an episode finishes
    if out is not None:
        try:  # made now: the trials take minutes, and their results must have somewhere to go
            make_output_folder(args.out, made=made)
        except ValueError as e:
            return fail(str(e))

    rng = np.random.default_rng(args.seed)
    actions = [None] + [rng.uniform(-1.0, 1.0, len(PARAMETERS)).astype(np.float32)  # 0: the config as it is
                        for _ in range(args.trials - 1)]
    kw = {"agent_config": base, "step_s": step_s, "episode_s": episode_s, "level": args.level}
    tasks = [(t, None if a is None else a.tolist(), args.seed + k, kw) for t, a in enumerate(actions)
             for k in range(args.seeds)]
    params = [values_of(base) if a is None else decode(a) for a in actions]
    journal = None
    if out is not None:  # a line per episode as it finishes, whole and synced: what a crash cannot take back
        from agent.audit.records import JsonlWriter
        try:
            journal = JsonlWriter(out / "episodes.jsonl", flush_every=1, fsync=True)
        except OSError as e:
            return fail(f"--out {args.out}: {e.strerror or e}")
    unwritten: list[OSError] = []  # the folder's first failed write (a full disk): it is written no more

    def journalled(r: dict) -> None:
        if not unwritten:
            try:  # (raised through the pool's loop, it ended the search on a traceback)
                journal.write({**r, "params": params[r["trial"]]})
            except OSError as e:
                unwritten.append(e)
    from common.stop_signals import SignalsBetweenEvents
    from common.stop_signals import begun, exit_status, interrupted_by, stop_signals_interrupt
    given = False  # the table printed and the files written, whole
    begun()
    try:
        with stop_signals_interrupt(install=own_command_line) as caught:
            try:
                results, interrupted = _run(tasks, args.workers, not args.quiet,
                                            None if journal is None else journalled,
                                            partial(_attempt, timeout_s=timeout_s))
            finally:
                if journal is not None:
                    try:
                        journal.close()
                    except OSError as e:
                        unwritten.append(e)
            # the table and the files take a second: a signal meanwhile is held to their end, so that it cuts neither
            # (it was the default action: killed unsaid, the files perhaps not written), then said as any other
            with SignalsBetweenEvents():
                status = _given(results, interrupted, caught[0] if caught else signal.SIGINT, tasks, actions, params,
                                base, out, unwritten, episode_s, step_s, args)
                if interrupted and not results and out is not None:  # stopped before an episode finished
                    _drop_empty_journal(out, made)
                sys.stdout.flush()  # (a pipe's buffer: lost if a signal then ends the process)
                given = True
            return status
    except KeyboardInterrupt as e:  # held while the results were given, or in the instant before they were
        print_note(f"interrupted ({interrupted_by(e)}) as the search ended: "
                   + ("its results are given above, whole" if given else
                      "no table" + (f", no results.json; every episode finished is in {out / 'episodes.jsonl'}"
                                    if out is not None else "")))
        return exit_status(e)


def _given(results: list[dict], interrupted: bool, signum: int, tasks: list, actions: list, params: list, base,
           out: Path | None, unwritten: list[OSError], episode_s: float, step_s: float, args) -> int:
    """The search's table, best.yaml and results.json, from its episodes' ``results``; its exit status."""
    from search.env import config_for
    from common.stop_signals import exit_status, interrupted_by

    if interrupted:
        if not results:  # (the empty journal, and the folder made for it, are removed: _drop_empty_journal)
            print_note(f"interrupted ({interrupted_by(signum)}): none of the {len(tasks)} episodes finished: "
                       f"nothing written")
            return exit_status(signum)
        print_note(f"interrupted ({interrupted_by(signum)}): {len(results)} of {len(tasks)} episodes finished; the "
                   f"trials with one are ranked on those")
    failed = [{**r, "params": params[r["trial"]]} for r in results if "error" in r]
    if failed:
        print_note(f"{len(failed)} of {len(tasks)} episodes failed (trials {sorted({r['trial'] for r in failed})}); "
                   f"the first, trial {failed[0]['trial']} seed {failed[0]['seed']}: {failed[0]['error']}"
                   + (f"; every one in {out / 'results.json'}" if out is not None else ""))

    rows = []
    for t in range(len(actions)):
        mine = [r for r in results if r["trial"] == t and "error" not in r]
        if not mine:  # (interrupted before any of its episodes finished, or every one failed)
            continue
        rows.append({"trial": t, "params": params[t], "mean_reward": float(np.mean([r["reward"] for r in mine])),
                     "mean_net_pnl_usd": float(np.mean([r["net_pnl_usd"] for r in mine])),
                     "fills": int(sum(r["fills"] for r in mine)), "escalations": int(sum(r["escalations"] for r in mine)),
                     "kills": int(sum(r["killed"] for r in mine)),
                     "errors": sum(r["trial"] == t for r in failed), "episodes": mine})
    rows = ranked(rows)
    status = exit_status(signum) if interrupted else 1 if failed else 0
    if not rows:
        if out is not None and not unwritten:
            try:
                _write_results(out, episode_s, step_s, args, interrupted, rows, failed)
            except OSError as e:
                unwritten.append(e)
        print_error("no episode finished without an error: no trial to rank")
        if unwritten:
            return fail(f"--out {args.out}: {unwritten[0].strerror or unwritten[0]} (the folder is incomplete)")
        return status
    print_out(_table(rows, episode_s, args.seeds))
    if rows[0]["kills"]:
        print_note(f"warning: every trial was ended by a Kill on some seed; the best, trial {rows[0]['trial']}, on "
                   f"{rows[0]['kills']} of {len(rows[0]['episodes'])}: its parameters trip the safety ladder's Kill")
    if rows[0].get("errors"):
        print_note(f"warning: every trial failed on some seed; the best, trial {rows[0]['trial']}, is ranked on the "
                   f"{len(rows[0]['episodes'])} episodes it finished")
    if out is not None and not unwritten:
        from agent.audit.records import write_whole
        best = config_for(rows[0]["params"], base)
        text = _best_yaml(best, rows[0], args.level)
        try:  # results.json last: a folder holding one holds the whole search's files
            write_whole(out / "best.yaml", lambda f: f.write(text.encode()))
            _write_results(out, episode_s, step_s, args, interrupted, rows, failed)
        except OSError as e:
            unwritten.append(e)
    if unwritten:  # a full disk: the table the search made is above; Ctrl-C or not, the folder is not its record
        return fail(f"--out {args.out}: {unwritten[0].strerror or unwritten[0]} (the search ran: the table above; "
                    f"the folder is incomplete)")
    if out is not None:
        print_out(f"results: {out / 'results.json'}; the best trial's config: {out / 'best.yaml'}")
    return status


def _write_results(out: Path, episode_s: float, step_s: float, args, interrupted: bool, rows: list[dict],
                   failed: list[dict]) -> None:
    """results.json, whole or not at all (written beside and renamed: a crash mid-write left half a file)."""
    from agent.audit.records import write_json
    write_json(out / "results.json", {"episode_s": episode_s, "step_s": step_s, "level": args.level,
                                      "seeds": [args.seed + k for k in range(args.seeds)], "interrupted": interrupted,
                                      "trials": rows, "failed": failed})


def ranked(rows: list[dict]) -> list[dict]:
    """The trials best first: those with an episode failed after those without, then those a Kill ended on no seed
    before those it ended on some, each by mean reward. A Kill ends the episode early, and the losses of the time it
    cut off are never charged: by reward alone, trials tripping it in minutes lost least and were ranked best
    (best.yaml held a trial Killed on every seed, above one that traded its whole episodes). A trial with a failed
    episode is ranked on fewer seeds than the others (not on the same markets), and its parameters broke a run."""
    return sorted(rows, key=lambda r: (r.get("errors", 0) > 0, r["kills"] > 0, -r["mean_reward"]))


def _market_problem(coin: str, config_file: str | None) -> str | None:
    """Why the search's twin (the default parameters: it takes no --params) cannot trade ``coin``, as
    ``python -m agent`` refuses it (None: it can). A coin the twin does not list failed every episode with a
    KeyError traceback; one listed without a market process (the HIP-3 ``hyna:LIT``) ran every trial on an empty
    book and ranked trials that had not traded at all."""
    from agent.__main__ import market_problem
    from twin.params import TwinParams

    params = TwinParams()
    if market_problem(coin, params, None) is None:
        return None
    source = f"--config {config_file}" if config_file else "the shipped defaults"
    return (f"{source}: session.coin {coin!r}: the search runs the twin's default parameters, which have a market "
            f"for {', '.join(params.markets)} only; set session.coin to one of them")


def _run(tasks: list, workers: int, progress: bool, on_result=None, work=None) -> tuple[list[dict], bool]:
    """(every finished episode's result or failure, whether Ctrl-C cut the search short); ``on_result`` gets each
    as it comes. Interrupted, the episodes finished are kept: a search of hours left nothing behind it when the
    results were only written at the end. ``work`` runs one task (``_attempt``; a test gives its own)."""
    work = _attempt if work is None else work
    bar = None
    if progress:
        from tqdm import tqdm
        bar = tqdm(total=len(tasks), unit="episode", desc="search", leave=False)
    results: dict = {}  # (trial, seed): result

    def emit(r: dict) -> None:
        # the pool hands an episode over again when a Ctrl-C cut the last hand-over (_pooled): taken once. The store
        # is one step, so a Ctrl-C lands before it (the episode handed over again, then kept) or after (kept)
        key = (r["trial"], r["seed"])
        if key in results:
            return
        results[key] = r
        if on_result is not None:
            on_result(r)
        if bar is not None:
            bar.update(1)
    interrupted = False
    try:
        if workers == 1:
            for task in tasks:
                _finished.result = None
                r = None
                try:
                    r = work(task)
                    emit(r)
                except KeyboardInterrupt:
                    # a Ctrl-C between the episode's return and its hand-over (as its timer was put away, or at
                    # emit's first step) lost it: handed over again (emit takes it once, as the pool's)
                    r = r if r is not None else _just_finished(task)
                    if r is not None:
                        emit(r)
                    raise
        else:
            _pooled(tasks, workers, work, emit)
    except KeyboardInterrupt:
        interrupted = True
    finally:
        if bar is not None:
            bar.close()
    # in the tasks' order, however they finished: the ranking's means and results.json are the same each time
    order = {(task[0], task[2]): k for k, task in enumerate(tasks)}
    return sorted(results.values(), key=lambda r: order[r["trial"], r["seed"]]), interrupted


def _drop_empty_journal(out: Path, made: list[Path]) -> None:
    """A search stopped before its first episode finished: its episodes.jsonl, empty, removed, and the folders made
    for it while they are empty (they were left behind, an empty journal in them). A journal with a line is kept."""
    journal = out / "episodes.jsonl"
    try:
        if journal.stat().st_size == 0:
            journal.unlink()
    except OSError:  # (not there, or cannot be: kept, and the folder with it)
        return
    remove_made_folders(made)


def _exit_with_parent(parent: int, every_s: float = 0.5) -> None:
    """A pool worker's initializer: end the worker once the search that made it is gone. A search killed outright
    (SIGKILL, the OOM killer) left its workers running, then idle for ever: each held its memory, and the pipes of
    the terminal or the script that ran the search, which waited on them. The worker's parent changes when it dies
    (it is re-parented), so a thread checks it and exits with the search. SIGTERM and SIGHUP get their default
    action back (the worker is forked with the search's handlers): a signal to one worker ends it, as a worker
    killed outright, not the search."""
    from common.stop_signals import default_stop_signals
    default_stop_signals()

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(every_s)
        os._exit(1)
    threading.Thread(target=watch, name="exit-with-parent", daemon=True).start()


def _pooled(tasks: list, workers: int, work, emit) -> None:
    """Each task's result through ``emit`` from a process pool, as it finishes (they were taken in the tasks' order:
    one finished waited, unjournalled, behind every earlier one still running, and a search that died lost it). A
    worker that dies outright (killed, out of memory) breaks the whole pool and fails every episode in it: that
    ended the search with a traceback, nothing ranked. Now the episodes that finished are kept, and those the pool
    had handed out when it broke (at most ``workers`` + 1, the earliest unfinished: it hands them out in order) run
    again one at a time, each in a pool of its own, so the death is the failure of the one episode that died, even
    one that kills its worker wherever it runs; then the rest go on in a whole pool. ``emit`` may get a result twice
    (a Ctrl-C that cut its first hand-over): it keeps the first."""
    from concurrent.futures import FIRST_COMPLETED, wait
    from concurrent.futures.process import BrokenProcessPool

    pending = list(range(len(tasks)))
    alone = 0  # how many of the next tasks run by themselves
    while pending:
        batch = pending[:1] if alone else list(pending)
        pool = ProcessPoolExecutor(max_workers=min(workers, len(batch)), initializer=_exit_with_parent,
                                   initargs=(os.getpid(),))
        interrupted = False
        futures: dict = {}
        try:
            futures = {pool.submit(work, tasks[k]): k for k in batch}
            running = set(futures)
            broken = False
            while running and not broken:
                done, running = wait(running, return_when=FIRST_COMPLETED)
                for f in sorted(done, key=futures.get):  # (those done together in the tasks' order)
                    try:
                        r = f.result()
                    except BrokenProcessPool:
                        if not alone:
                            broken = True
                            continue
                        r = _failure(tasks[futures[f]], "its worker process died (killed, or out of memory): "
                                     "BrokenProcessPool", "")
                    emit(r)  # (then off the list: a Ctrl-C between the two hands it over again, to an emit that
                    pending.remove(futures[f])  # takes it once; the other way round it was lost)
                    alone = max(0, alone - 1)
            if broken:  # those that finished all the same are kept
                _take_finished(futures, pending, emit)
                alone = workers + 1
        except KeyboardInterrupt:
            interrupted = True
            _take_finished(futures, pending, emit)
            raise
        finally:  # (interrupted: the episodes under way and those not begun are dropped)
            if interrupted:
                _end_workers()
            pool.shutdown(wait=not interrupted, cancel_futures=True)


def _take_finished(futures: dict, pending: list, emit) -> None:
    """The episodes of ``futures`` (future: task index) that finished and are not yet taken, through ``emit`` in the
    tasks' order: kept when the pool broke, and when a Ctrl-C (or SIGTERM) cut the search while its loop was busy (a
    journal line's fsync, say): an episode that finished meanwhile was dropped, where README says Ctrl-C keeps the
    episodes finished."""
    for f, k in futures.items():
        if k in pending and f.done() and not f.cancelled() and f.exception() is None:
            emit(f.result())  # (as _pooled's loop: handed over, then off the list)
            pending.remove(k)


def _end_workers() -> None:
    """The pool's workers ended (SIGKILL), their episodes dropped. A Ctrl-C at a terminal reaches them too, but a
    SIGTERM, a SIGHUP or a SIGINT sent to the search's pid does not: they went on with their episodes, and the search,
    its results written, waited for them at its exit (minutes, for long episodes). The search starts no other
    process, so its live children are the pool's workers (``active_children``: the executor's own map of them is
    private)."""
    for p in multiprocessing.active_children():
        p.kill()


# the table's column per parameter (search.env.PARAMETERS' paths): its label and format
_COLUMNS = {"glft.gamma": ("gamma", "7.3f"), "glft.spread_factor": ("spread", "7.2f"),
            "glft.skew_factor": ("skew", "7.2f"), "ladder.n_levels": ("levels", "7d"),
            "ladder.level_spacing_ticks": ("spacing", "7.2f"), "order_size": ("size", "7.4f"),
            "reconcile.price_tolerance_ticks": ("tol", "7.2f")}


def _table(rows: list[dict], episode_s: float, seeds: int) -> str:
    head = (f"{len(rows)} trials x {seeds} seeds, {episode_s:g} s episodes; reward = net PnL - risk and escalation "
            f"penalties (USDC, mean per episode)")
    lines = [head, f"  {'trial':>5} {'reward':>9} {'net PnL':>9} {'fills':>6} {'esc':>4} {'kills':>5}  "
                   + " ".join(f"{label:>7}" for label, _ in _COLUMNS.values())]
    for r in rows:
        vals = [format(r["params"][path], fmt) for path, (_, fmt) in _COLUMNS.items()]
        name = f"{r['trial']:>5}" if r["trial"] else "  (0)"
        lines.append(f"  {name} {r['mean_reward']:9.2f} {r['mean_net_pnl_usd']:9.2f} {r['fills']:6d} "
                     f"{r['escalations']:4d} {r['kills']:5d}  " + " ".join(vals))
    # (the head's "mean per episode" is reward's and net PnL's: the counts are the trial's episodes' sums, said here,
    # where a 2-seed search's fills read as one episode's)
    lines.append(f"  (0) is the config's own values; fills, esc (safety levels escalated), kills (episodes a Kill "
                 f"ended): summed over the trial's {seeds} episode{'s' if seeds != 1 else ''}")
    lines.append("  gamma, spread, skew: GLFT's risk aversion and factors; levels, spacing (ticks), size (coin): the "
                 "ladder; tol: reconcile.price_tolerance_ticks")
    return "\n".join(lines)


def _best_yaml(cfg, row: dict, level: str) -> str:
    """The best trial's whole config (the search's base with its parameters set), as ``--show-config`` writes
    one. Its graduation is the base's (a session starts at its start level and earns promotions), not the level the
    search pinned every episode at: the head says so, and how to run it as the search did."""
    from agent.config import config_yaml
    g = cfg.graduation
    head = (f"# python -m search: trial {row['trial']}, mean reward {row['mean_reward']:.2f} USDC per episode "
            f"(net PnL {row['mean_net_pnl_usd']:.2f}), its episodes pinned at exposure level {level}.\n"
            f"# graduation below is the base config's: a session starts at {g.start_level.name} and earns its "
            f"promotions (up to {g.ceiling.name}).\n# To run it as the search did, set graduation.start_level and "
            f"graduation.ceiling to {level} and graduation.demote_on_low_confidence to false.\n")
    return head + config_yaml(cfg)


if __name__ == "__main__":
    from common.console import drop_output_unread
    drop_output_unread()  # (| head: not an error)
    sys.exit(main())
