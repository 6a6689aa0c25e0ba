"""A YAML file nested thousands of levels deep (a generated file gone wrong, or no config at all) is refused naming
it: PyYAML recurses per level, and every command that reads a YAML file ended on a RecursionError traceback,
exit 1."""
from __future__ import annotations

import pytest
from test_key_hiding import _cli


@pytest.mark.parametrize("argv", [["agent", "--duration", "1", "--config"], ["scenarios", "run"],
                                  ["twin", "serve", "--port", "0", "--scenario"], ["search", "--config"]],
                         ids=["agent", "scenario", "serve", "search"])
@pytest.mark.parametrize("text", ["a: " + "[" * 5000 + "]" * 5000, "a: " + "{b: " * 3000 + "1" + "}" * 3000],
                         ids=["lists", "mappings"])
def test_a_yaml_file_nested_thousands_deep_is_refused_naming_it_not_a_traceback(tmp_path, argv, text):
    path = tmp_path / "deep.yaml"
    path.write_text(text + "\n")
    r = _cli(*argv, str(path))
    assert r.returncode == 2 and "Traceback" not in r.stderr, r.stderr[-500:]
    assert f"{path}: not valid YAML: nested too deeply to be read" in r.stderr


_ALIASED = "x0: &x0 [1]\n" + "".join(f"x{i}: &x{i} [*x{i - 1}]\n" for i in range(1, 3000)) + "y: *x2999\n"


@pytest.mark.parametrize("argv", [["agent", "--duration", "1", "--config"], ["search", "--config"]],
                         ids=["agent", "search"])
def test_a_yaml_file_nested_thousands_deep_through_aliases_is_refused_naming_it_not_a_traceback(tmp_path, argv):
    """Each line one level deeper than the last through an alias (``x2: &x2 [*x1]``): the text nests one level, so
    PyYAML reads it, and the config's checks then recursed through its 3,000 levels to a RecursionError traceback."""
    path = tmp_path / "deep.yaml"
    path.write_text(_ALIASED)
    r = _cli(*argv, str(path))
    assert r.returncode == 2 and "Traceback" not in r.stderr, r.stderr[-500:]
    assert f"{path}: not valid YAML: nested more than" in r.stderr


def test_a_value_that_holds_itself_or_is_shared_wide_is_told_from_one_nested_deep():
    """The depth is counted without walking each path (a "billion laughs" shares ten lists ten times a level)
    and an alias inside the node it names, a value holding itself, is refused as such, not walked for ever."""
    import yaml

    from common.files import load_yaml
    laughs = "a0: &a0 [1]\n" + "".join(f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 10)}]\n" for i in range(1, 10))
    assert len(load_yaml(laughs)["a9"]) == 10
    with pytest.raises(yaml.YAMLError, match="holds itself"):
        load_yaml("risk: &a [1, *a]\n")
    with pytest.raises(yaml.YAMLError, match="nested more than 100 levels"):
        load_yaml("a: " + "[" * 100 + "]" * 100 + "\n")  # (the mapping and 100 lists: 101 levels)
    assert len(load_yaml("a: " + "[" * 99 + "]" * 99 + "\n")["a"]) == 1  # (100 levels: read)
