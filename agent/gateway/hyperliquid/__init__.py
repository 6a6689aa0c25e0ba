"""The Hyperliquid adapter: the only agent code that knows the venue's wire shapes and signing.

``wire`` builds action dicts in the venue's msgpack field order, ``signing`` signs them, and
``nonces`` hands out the strictly increasing millisecond nonces every signed action carries.
"""
