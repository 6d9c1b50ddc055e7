"""The front door: `flue_py.__all__` is sorted, complete, every name resolves, and importing it is cheap."""

import subprocess
import sys

import flue_py


def test_all_is_sorted_and_every_name_resolves_to_its_definition():
    assert flue_py.__all__ == sorted(flue_py.__all__)
    from flue_py.agent import Agent
    from flue_py.workflow import workflow

    assert flue_py.Agent is Agent and flue_py.workflow is workflow
    for name in flue_py.__all__:
        assert getattr(flue_py, name) is not None


def test_unknown_names_raise_attribute_error():
    try:
        flue_py.NotAThing  # noqa: B018
    except AttributeError as exc:
        assert "NotAThing" in str(exc)
    else:
        raise AssertionError("expected AttributeError")


def test_import_is_lazy():
    code = "import sys, flue_py; print(sorted(m for m in ('pydantic', 'flue_py.harness', 'litellm') if m in sys.modules))"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.stdout.strip() == "[]"
