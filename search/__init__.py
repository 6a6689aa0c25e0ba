"""Parameter search: a gymnasium environment around a twin session with the agent (DESIGN §9), and a
random search over its action space on a local process pool (``python -m search``).

The environment is registered with gymnasium as ``HLTwin/MarketMaking-v0``, so that tools which take an
environment id (``gymnasium.make``, vectorised envs, RL libraries' trainers) find it:
``gymnasium.make("search:HLTwin/MarketMaking-v0", step_s=60.0)`` imports this package first; after
``import search`` the bare id will do. Keyword arguments go to ``MarketMakingEnv``. No step limit is set
here: the environment truncates its own episodes at ``episode_s``."""
ENV_ID = "HLTwin/MarketMaking-v0"

try:
    import gymnasium
except ImportError:  # the search extra is not installed: `python -m search` says so (an import traceback did)
    gymnasium = None

if gymnasium is not None and ENV_ID not in gymnasium.registry:  # (importlib.reload would register it twice)
    gymnasium.register(id=ENV_ID, entry_point="search.env:MarketMakingEnv")
