"""The agent's core and its live path load without the twin: the twin is a venue the agent can run against, not a
library it stands on. Only the twin's adapter (agent/gateway/twin.py), the simulation driver and the code that runs a
twin session import it; what both need (file models, JSON text, stop signals, the message decorator) is in common/."""
import subprocess
import sys

import pytest

_LIVE = ("agent.core", "agent.gateway.hyperliquid.gateway", "agent.live", "agent.live_cli", "agent.drivers",
         "agent.audit.__main__", "agent.report")


@pytest.mark.parametrize("module", _LIVE)
def test_importing_the_agent_without_the_twin_loads_no_twin_module(module):
    # (a fresh interpreter: this one has the twin loaded by other tests)
    code = (f"import sys, {module}\n"
            "print(sorted(m for m in sys.modules if m == 'twin' or m.startswith('twin.')))")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "[]", f"importing {module} loaded the twin: {r.stdout.strip()}"


def test_the_twin_loads_no_agent_module():
    code = ("import sys, twin.exchange, twin.server, twin.__main__\n"
            "print(sorted(m for m in sys.modules if m == 'agent' or m.startswith('agent.')))")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "[]", r.stdout
