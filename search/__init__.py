"""Parameter search: a gymnasium environment around a twin session with the agent (DESIGN §9), and a
random search over its action space on a local process pool (``python -m search``).

The environment is registered with gymnasium as ``HLTwin/MarketMaking-v0``, so that tools which take an
environment id (``gymnasium.make``, vectorised envs, RL libraries' trainers) find it:
``gymnasium.make("search:HLTwin/MarketMaking-v0", step_s=60.0)`` imports this package first; after
``import search`` the bare id will do. Keyword arguments go to ``MarketMakingEnv``. No step limit is set
here: the environment truncates its own episodes at ``episode_s``."""
import sys

ENV_ID = "HLTwin/MarketMaking-v0"


def _run_by_python_m() -> bool:
    """Imported by ``python -m search`` (the package before its ``__main__``, whose first lines come too late for
    gymnasium's import), not by a program that uses it: ``-m`` is still argv[0] while runpy imports the package."""
    given = getattr(sys, "orig_argv", [])
    return sys.argv[:1] == ["-m"] and "-m" in given and given[given.index("-m") + 1:][:1] == [__name__]


if _run_by_python_m():  # a signal in gymnasium's import ends it in one line, as one later in the start does
    from common.stop_signals import exit_at_once
    exit_at_once("before the search started")

try:
    import gymnasium
except ImportError:  # the search extra is not installed: `python -m search` says so (an import traceback did)
    gymnasium = None

if gymnasium is not None and ENV_ID not in gymnasium.registry:  # (importlib.reload would register it twice)
    gymnasium.register(id=ENV_ID, entry_point="search.env:MarketMakingEnv")
