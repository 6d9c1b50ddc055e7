"""The `review` workflow, offline: the scripted model reads the staged file, then delivers the typed result."""

import asyncio

import pytest
from flue_py.testing import ScriptedModel, ToolCall
from pydantic import ValidationError

from workflows.review import Document, Review, review

DOC = Document(title="Release notes", text="We shipped search. Docs are still missing.")


def test_review_returns_a_typed_review():
    model = ScriptedModel(
        [
            ToolCall("read", {"path": "/workspace/document.md"}),
            ToolCall(
                "final_result",
                {"summary": "Search shipped.", "verdict": "needs-work", "action_items": ["Add the docs."]},
            ),
        ]
    )
    outcome = asyncio.run(review.run(DOC, model=model))
    assert outcome.ok, outcome.error
    assert outcome.result == Review(summary="Search shipped.", verdict="needs-work", action_items=["Add the docs."])
    # The agent really found the document the workflow staged in its sandbox.
    staged = next(m["content"] for m in model.requests[1].messages if m["role"] == "tool")
    assert "Docs are still missing." in staged


def test_a_ready_review_has_no_action_items():
    result = {"summary": "Clear.", "verdict": "ready", "action_items": ["Nothing really."]}
    outcome = asyncio.run(review.run(DOC, model=ScriptedModel([ToolCall("final_result", result)])))
    assert outcome.ok, outcome.error
    assert outcome.result.action_items == []


def test_input_is_validated():
    with pytest.raises(ValidationError):
        Document(title="Empty", text="")
