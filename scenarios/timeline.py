"""The PNG timeline of a scenario run: mid and our quotes, position against the limit, safety and
exposure levels, quota headroom; faults shaded, broken invariants marked. matplotlib, Agg backend."""
from __future__ import annotations

from pathlib import Path
from typing import BinaryIO

import numpy as np

_SAFETY = ("Green", "Yellow", "Orange", "Red", "Kill")
_SAFETY_COLOURS = ("#2e7d32", "#f9a825", "#ef6c00", "#c62828", "#000000")
_EXPOSURE = ("Shadow", "MicroLive", "Ramping", "Cautious", "Full", "Optimized")


def plot_timeline(result, out: str | Path | BinaryIO) -> None:
    """The run's timeline as a PNG to ``out``, a path or a binary file."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    log = result.log
    s = log.samples
    t = s["t"]
    fig, axes = plt.subplots(5, 1, figsize=(12, 12), sharex=True,
                             gridspec_kw={"height_ratios": [3, 2, 1.2, 1.2, 1.2]})
    ax_px, ax_pos, ax_safe, ax_exp, ax_q = axes

    ax_px.plot(t, s["mid"], color="#444", lw=1, label="mid")
    bt, bp, at, ap, rt, rp = [], [], [], [], [], []
    step = max(1, len(log.orders) // 4000)  # keep the scatter readable on long runs
    for i in range(0, len(log.orders), step):
        for o in log.orders[i]:
            if o.reduce_only:
                rt.append(t[i])
                rp.append(o.px)
            elif o.is_buy:
                bt.append(t[i])
                bp.append(o.px)
            else:
                at.append(t[i])
                ap.append(o.px)
    ax_px.scatter(bt, bp, s=2, color="#1565c0", label="our bids")
    ax_px.scatter(at, ap, s=2, color="#c62828", label="our asks")
    ax_px.scatter(rt, rp, s=3, color="#6a1b9a", marker="s", label="reduce-only")
    ax_px.set_ylabel("price")
    ax_px.legend(loc="upper right", fontsize=8, markerscale=3)

    wc = np.maximum(np.abs(s["pos"] + s["bid_sz"]), np.abs(s["pos"] - s["ask_sz"]))
    ax_pos.plot(t, s["pos"], color="#1b5e20", lw=1.2, label="venue position")
    ax_pos.plot(t, s["agent_pos"], color="#81c784", lw=0.8, ls="--", label="agent's position")
    ax_pos.plot(t, wc, color="#8d6e63", lw=0.8, label="|worst case| (resting)")
    for sign in (1, -1):
        ax_pos.axhline(sign * log.limit, color="#c62828", lw=0.8, ls=":")
    ax_pos.set_ylabel("coin")
    ax_pos.legend(loc="upper right", fontsize=8)

    ax_safe.step(t, s["safety"], where="post", color="#c62828")
    ax_safe.set_yticks(range(5), _SAFETY)
    ax_safe.set_ylim(-0.3, 4.3)
    ax_safe.set_ylabel("safety")

    if len(s["exposure"]) and s["exposure"][0] >= 0:
        ax_exp.step(t, s["exposure"], where="post", color="#1565c0")
    else:
        ax_exp.text(0.5, 0.5, "no exposure controller in this agent", transform=ax_exp.transAxes, ha="center",
                    va="center", color="#777")
    ax_exp.set_yticks(range(6), _EXPOSURE)
    ax_exp.set_ylim(-0.3, 5.3)
    ax_exp.set_ylabel("exposure")

    headroom = (s["cap"] - s["used"]) / np.maximum(s["cap"], 1)
    ax_q.plot(t, 100 * headroom, color="#00695c", lw=1)
    ax_q.axhline(100 * log.reserve_frac, color="#c62828", lw=0.8, ls=":", label="cancel reserve")
    ax_q.set_ylabel("quota headroom %")
    ax_q.set_xlabel("seconds after the agent started")
    ax_q.legend(loc="upper right", fontsize=8)

    for kind, a, b in log.faults:
        for ax in axes:
            if b > a:
                ax.axvspan(a, b, color="#ffcc80", alpha=0.35, lw=0)
            else:
                ax.axvline(a, color="#ef6c00", lw=0.6, alpha=0.6)
    for kind in sorted({k for k, _, _ in log.faults}):
        a = min(x for k, x, _ in log.faults if k == kind)
        ax_px.annotate(kind, (a, 1.0), xycoords=("data", "axes fraction"), fontsize=7, color="#e65100",
                       rotation=90, va="top", ha="right")
    for v in result.violations:
        for ax in axes:
            ax.axvline(v.t, color="#d50000", lw=1.2, ls="--")
        ax_pos.annotate(v.invariant, (v.t, 0.02), xycoords=("data", "axes fraction"), fontsize=7, color="#d50000",
                        rotation=90, va="bottom")
    status = "all invariants hold" if result.ok else f"{len(result.violations)} invariant(s) broke"
    fig.suptitle(f"{result.scenario.name} — seed {result.seed}, {result.agent}: {status}")
    fig.tight_layout()
    fig.savefig(out, dpi=90, format="png")
    plt.close(fig)
