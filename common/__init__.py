"""What the twin and the agent both use and neither owns: validated files, JSON text, units, stop signals,
command-line errors, the message decorator. Here so that the agent's core and live path load without the twin
(``tests/agent/test_layering.py``) and the twin never imports the agent."""
