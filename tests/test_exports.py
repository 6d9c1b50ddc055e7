"""The front door: `flue_py.__all__` is sorted, complete, and every name resolves."""

import inspect

import flue_py


def test_all_is_sorted_and_resolves():
    assert flue_py.__all__ == sorted(flue_py.__all__)
    for name in flue_py.__all__:
        assert getattr(flue_py, name) is not None


def test_every_public_name_is_listed():
    public = {name for name, value in vars(flue_py).items() if not name.startswith("_") and not inspect.ismodule(value)}
    assert public == set(flue_py.__all__)
