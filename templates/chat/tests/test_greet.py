"""The `greet` workflow, offline: the scripted model delivers the typed result through `final_result`."""

import asyncio

from flue_py.testing import ScriptedModel, ToolCall

from workflows.greet import Greeting, Visitor, greet


def test_greet_returns_a_typed_greeting():
    model = ScriptedModel([ToolCall("final_result", {"text": "Bienvenue, Ada !", "language": "French"})])
    outcome = asyncio.run(greet.run(Visitor(name="Ada", language="French"), model=model))
    assert outcome.ok, outcome.error
    assert outcome.result == Greeting(text="Bienvenue, Ada !", language="French")
    assert "Ada" in model.requests[0].messages[-1]["content"]


def test_an_invalid_result_is_asked_for_again():
    model = ScriptedModel(
        [
            ToolCall("final_result", {"text": "Hi"}),  # no language: does not validate
            ToolCall("final_result", {"text": "Hi, Ada.", "language": "English"}),
        ]
    )
    outcome = asyncio.run(greet.run({"name": "Ada"}, model=model))
    assert outcome.ok, outcome.error
    assert outcome.result.language == "English"
    assert model.calls == 2
