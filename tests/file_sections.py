"""The sections of a file's model (agent config, twin parameters), each key of each as a file would give it alone:
a file that sets one key of a section to its shipped value must load to the shipped model (see
tests/agent/test_config_sections.py)."""
from __future__ import annotations

from collections.abc import Iterator

from pydantic import BaseModel


def section_keys(model: BaseModel, path: tuple[str, ...] = ()) -> Iterator[tuple[tuple[str, ...], str, object]]:
    """Every key of every sub-model of ``model`` (nested ones too) that is not a section itself, as the section's
    path, the key and its value as a file gives it (JSON mode: enums by value, tuples as lists)."""
    dumped = model.model_dump(mode="json")
    for name in type(model).model_fields:
        value = getattr(model, name)
        if isinstance(value, BaseModel):
            yield from section_keys(value, path + (name,))
        elif path:
            yield path, name, dumped[name]


def one_key_file(path: tuple[str, ...], key: str, value: object) -> dict:
    """The file's mapping that sets ``key`` of the section at ``path`` to ``value``, and nothing else."""
    data: dict = {key: value}
    for name in reversed(path):
        data = {name: data}
    return data
