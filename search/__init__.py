"""Parameter search: a gymnasium environment around a twin session with the agent (DESIGN §9), and a
random search over its action space on a local process pool (``python -m search``)."""
