"""Parameter search: a gymnasium environment around a twin session with the agent (DESIGN §9), and a
random search over its action space on a local process pool (``python -m search``).

The environment is registered with gymnasium as ``HLTwin/MarketMaking-v0``, so that tools which take an
environment id (``gymnasium.make``, vectorised envs, RL libraries' trainers) find it:
``gymnasium.make("search:HLTwin/MarketMaking-v0", step_s=60.0)`` imports this package first; after
``import search`` the bare id will do. Keyword arguments go to ``MarketMakingEnv``. No step limit is set
here: the environment truncates its own episodes at ``episode_s``."""
import gymnasium

ENV_ID = "HLTwin/MarketMaking-v0"

if ENV_ID not in gymnasium.registry:  # (importlib.reload would register it twice, which gymnasium warns of)
    gymnasium.register(id=ENV_ID, entry_point="search.env:MarketMakingEnv")
