"""Fault models of the twin: each a small class with its parameters in one pydantic section."""
