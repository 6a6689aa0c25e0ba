"""The twin's wire protocol: what the loopback venue checks before an action reaches the exchange.

``auth`` recovers signers and applies the venue's nonce rules with code of its own (never the
agent's), so a signing bug shared by both sides cannot hide.
"""
