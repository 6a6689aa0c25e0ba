"""A signal that cuts a twin session anywhere in a quote cycle leaves a decision log that agrees with the summary:
one cycle line per cycle counted, and every command the twin was sent in the log."""
from __future__ import annotations

import signal
from collections import Counter
from contextlib import contextmanager, nullcontext

import pytest
from hypothesis import example, given, settings, strategies as st

import agent.session
from agent.audit.records import describe_command, read_log
from agent.config import AgentConfig
from agent.core import AgentCore
from agent.session import run_session
from common.stop_signals import stop_signals_interrupt

pytestmark = pytest.mark.usefixtures("ctrl_c_raises")  # (Ctrl-C raised here is caught as a KeyboardInterrupt)

# a session that trades from its first cycle (FULL): in 60 s, ~118 quote cycles, ~170 commands, ~270 log lines
CONFIG = AgentConfig(graduation={"start_level": "FULL"})
DURATION_S = 60.0
# where the signal lands, each the Nth time the session passes there (N at most what every 60 s session reaches)
POINTS = {
    "in a quote cycle's decision (AgentCore._quote)": 100,
    "between the core's commands and their sending (after handle)": 100,
    "between a command sent and the cycle's record (after gateway.send)": 150,
    "between two records written (after the record sink)": 250,
}


@contextmanager
def _session_signalled(point: str, sig, sent: list[str]):
    """The session, with ``sig`` raised at ``point``; every command given to the gateway written to ``sent``."""
    with pytest.MonkeyPatch.context() as mp:
        build = agent.session.build_session

        def build_watched(*a, **k):
            ex, gateway, core, driver = build(*a, **k)
            send = gateway.send
            depth = [0]  # (a Batch's other commands come back through send: counted once, as the batch)

            def watched_send(cmd) -> None:
                if depth[0] == 0:
                    sent.append(describe_command(cmd))
                depth[0] += 1
                try:
                    send(cmd)
                finally:
                    depth[0] -= 1
                if depth[0] == 0 and point.startswith("between a command sent"):
                    sig.at()
            gateway.send = watched_send
            return ex, gateway, core, driver
        mp.setattr(agent.session, "build_session", build_watched)

        if point.startswith("in a quote cycle"):
            quote = AgentCore._quote

            def signalled_quote(self, *a, **k):
                sig.at()
                return quote(self, *a, **k)
            mp.setattr(AgentCore, "_quote", signalled_quote)
        elif point.startswith("between the core's commands"):
            handle = AgentCore.handle

            def signalled_handle(self, event):
                cmds = handle(self, event)
                if cmds:
                    sig.at()
                return cmds
            mp.setattr(AgentCore, "handle", signalled_handle)
        elif point.startswith("between two records"):
            folder_sink = agent.session.run_folder_sink

            def signalled_folder_sink(*a, **k):
                write = folder_sink(*a, **k)

                def signalled_write(rec) -> None:
                    write(rec)
                    sig.at()
                return signalled_write
            mp.setattr(agent.session, "run_folder_sink", signalled_folder_sink)
        yield


@settings(max_examples=40, deadline=None)
@given(point=st.sampled_from(sorted(POINTS)), frac=st.floats(0.0, 1.0), signum=st.sampled_from(["SIGINT", "SIGTERM"]),
       progress=st.booleans())
@example(point="in a quote cycle's decision (AgentCore._quote)", frac=0.5, signum="SIGINT", progress=False)
@example(point="between a command sent and the cycle's record (after gateway.send)", frac=0.5, signum="SIGINT",
         progress=False)
@example(point="between the core's commands and their sending (after handle)", frac=0.2, signum="SIGTERM",
         progress=True)
@example(point="between two records written (after the record sink)", frac=0.7, signum="SIGINT", progress=False)
def test_a_signal_anywhere_in_a_cycle_leaves_the_log_agreeing_with_the_summary(tmp_path_factory, signal_at_call, point,
                                                                                 frac, signum, progress):
    """A signal's KeyboardInterrupt landed where the session was: in the core's decision (the cycle counted, its
    record never made), after the commands were sent (the record made and never written: commands at the venue
    that the log does not name). 183 cycle lines for 184 cycles counted, in one run."""
    sig = signal_at_call(getattr(signal, signum), 1 + round(frac * (POINTS[point] - 1)))
    out = tmp_path_factory.mktemp("run") / "run"
    sent: list[str] = []
    stopping = stop_signals_interrupt() if signum == "SIGTERM" else nullcontext([])
    try:
        with _session_signalled(point, sig, sent), stopping:
            summary = run_session(CONFIG, 0, DURATION_S, out, progress=progress)
    except KeyboardInterrupt:  # (caught: raised out of a test, it would stop the whole test session)
        pytest.fail("the signal's KeyboardInterrupt left run_session")
    records, bad = read_log(out / "decisions.jsonl")
    assert sig.calls >= sig.n and summary["interrupted"] is True and 0 < summary["simulated_s"] < DURATION_S
    assert bad == 0 and records[-1] == {"type": "end", "ts": summary["simulated_s"],
                                        "reason": "interrupted (Ctrl-C)" if signum == "SIGINT" else signum}
    assert sum(r["type"] == "cycle" for r in records) == summary["cycles"]
    logged = [c for r in records if r["type"] in ("cycle", "commands") for c in r["commands"]]
    assert Counter(logged) == Counter(sent) and sent  # what reached the twin, each in the log, and no more


def test_a_signal_after_the_run_leaves_the_handlers_as_they_were(tmp_path):
    """The signals are held back while the session runs (to the end of the event it is in), and only then."""
    before = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}
    summary = run_session(CONFIG, 0, 5.0, tmp_path / "run")
    assert summary["interrupted"] is False
    assert {s: signal.getsignal(s) for s in before} == before
