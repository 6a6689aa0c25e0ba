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
