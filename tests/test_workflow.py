"""Workflows: typed input, ctx.prompt with a structured result (re-asked when invalid), settlement."""

from __future__ import annotations

import pytest
from pydantic import BaseModel, Field, ValidationError

from flue_py import Agent, Context, Harness, Limits, workflow
from flue_py.events import RunSettled, WorkflowInput
from flue_py.exceptions import ConfigError
from flue_py.testing import ScriptedModel, ToolCall


class Issue(BaseModel):
    title: str
    body: str


class Triage(BaseModel):
    label: str
    priority: int = Field(ge=1, le=3)


def triage_agent(model, **kwargs) -> Agent:
    return Agent(name="triager", model=model, sandbox=False, skills=[], **kwargs)


def make_workflow(agent: Agent):
    @workflow
    async def triage(ctx: Context, issue: Issue) -> Triage:
        return await ctx.prompt(f"Triage: {issue.title}", agent=agent, result=Triage)

    return triage


async def test_structured_result_through_the_result_tool(harness):
    model = ScriptedModel([ToolCall("final_result", {"label": "bug", "priority": 1})])
    result = await make_workflow(triage_agent(model)).run(Issue(title="crash", body="boom"), store=harness.store)
    assert result.outcome == "completed"
    assert result.result == Triage(label="bug", priority=1)
    events = await harness.log.read(result.session)
    assert isinstance(events[1], WorkflowInput) and events[1].input == {"title": "crash", "body": "boom"}
    settled = [e for e in events if isinstance(e, RunSettled)]
    assert len(settled) == 1 and settled[0].result == {"label": "bug", "priority": 1}


async def test_invalid_result_is_re_asked_within_the_budget(harness):
    model = ScriptedModel(
        [
            ToolCall("final_result", {"label": "bug", "priority": 9}),
            "not json at all",
            ToolCall("final_result", {"label": "bug", "priority": 2}),
        ]
    )
    result = await Harness(harness.store).run_workflow(make_workflow(triage_agent(model)), {"title": "t", "body": "b"})
    assert result.ok, result.error
    assert result.result.priority == 2
    second = model.requests[1].messages
    assert "priority: Input should be less than or equal to 3" in second[-1]["content"]
    third = model.requests[2].messages
    assert third[-1] == {"role": "user", "content": "Respond by calling the `final_result` tool with the final answer."}


async def test_json_text_answer_is_accepted_as_the_result(harness):
    model = ScriptedModel(['```json\n{"label": "question", "priority": 3}\n```'])
    result = await Harness(harness.store).run_workflow(make_workflow(triage_agent(model)), {"title": "t", "body": "b"})
    assert result.result == Triage(label="question", priority=3)


async def test_result_budget_exhausted_fails_the_workflow(harness):
    model = ScriptedModel(["nope", "still nope", "no"])
    agent = triage_agent(model, limits=Limits(result_retries=1))
    result = await Harness(harness.store).run_workflow(make_workflow(agent), {"title": "t", "body": "b"})
    assert result.outcome == "failed"
    assert "did not deliver a valid result" in result.error


async def test_invalid_input_raises_pydantic_validation_error(harness):
    wf = make_workflow(triage_agent(ScriptedModel([])))
    with pytest.raises(ValidationError):
        await Harness(harness.store).run_workflow(wf, {"title": 3})


async def test_the_test_model_fills_a_structured_result_from_its_schema(harness):
    result = await Harness(harness.store, model="test").run_workflow(
        make_workflow(triage_agent("test")), {"title": "t", "body": "b"}
    )
    assert result.ok
    assert result.result == Triage(label="example", priority=1)


def test_workflow_declaration_errors_are_clear():
    with pytest.raises(ConfigError, match="must be an `async def`"):

        @workflow
        def not_async(ctx: Context, issue: Issue) -> Triage: ...

    with pytest.raises(ConfigError, match="annotated with a Pydantic model"):

        @workflow
        async def untyped(ctx: Context, issue: dict) -> Triage: ...
