"""The harness with its real parts: litellm's code path (local fake provider), skills, the sandbox tools."""

from __future__ import annotations

from pathlib import Path

from flue_py import Agent, Harness, tool
from flue_py.events import SandboxExec, SkillActivated, ToolResult
from flue_py.models.litellm import LiteLLMModel
from flue_py.testing import ScriptedModel, ToolCall
from tests.models._fake_openai import Call, FakeOpenAIServer


@tool
def get_weather(city: str) -> str:
    """Current weather for a city."""
    return f"sunny in {city}"


async def test_agent_run_over_litellms_real_code_path(harness):
    with FakeOpenAIServer(script=[[Call("get_weather", {"city": "Paris"}, fragments=4)], "It is sunny in Paris."]) as url:
        model = LiteLLMModel("openai/gpt-4o-mini", api_base=url, api_key="test-key")
        agent = Agent(name="weather", model=model, tools=[get_weather], sandbox=False, skills=[])
        result = await harness.send(agent, "Weather in Paris?")
    assert result.outcome == "completed", result.error
    assert result.reply == "It is sunny in Paris."
    assert result.usage.input_tokens > 0 and result.usage.cost > 0  # gpt-4o-mini is in litellm's price map
    events = await harness.log.read(result.session)
    tool_results = [e for e in events if isinstance(e, ToolResult)]
    assert [r.output for r in tool_results] == ["sunny in Paris"]


def write_skill(root: Path) -> None:
    skill = root / "skills" / "haiku"
    skill.mkdir(parents=True)
    (skill / "SKILL.md").write_text(
        "---\nname: haiku\ndescription: Write haiku. Use when asked for a poem.\n---\n\nThree lines: 5, 7, 5 syllables.\n"
    )
    (skill / "EXAMPLES.md").write_text("An old silent pond\n")


async def test_skills_are_discovered_catalogued_and_activated(tmp_path):
    write_skill(tmp_path)
    model = ScriptedModel([ToolCall("activate_skill", {"name": "haiku"}), "Autumn moonlight..."])
    agent = Agent(name="poet", model=model, instructions="You write poems.", sandbox=False)
    harness = Harness(root=tmp_path)
    result = await harness.send(agent, "A poem please")
    assert result.ok, result.error
    system = model.requests[0].messages[0]["content"]
    assert system.startswith("You write poems.")
    assert "## Available Skills" in system and "**haiku**" in system
    tool_output = model.requests[1].messages[-1]["content"]
    assert "Three lines: 5, 7, 5 syllables." in tool_output and "EXAMPLES.md" in tool_output
    events = await harness.log.read(result.session)
    assert [e.name for e in events if isinstance(e, SkillActivated)] == ["haiku"]


async def test_no_catalog_without_skills(tmp_path):
    model = ScriptedModel(["ok"])
    agent = Agent(name="plain", model=model, instructions="Hi.", sandbox=False)
    await Harness(root=tmp_path).send(agent, "x")
    assert model.requests[0].messages[0]["content"] == "Hi."
    assert model.requests[0].tools == []


async def test_builtin_sandbox_tools_work_in_a_run_and_files_persist_between_messages(tmp_path):
    model = ScriptedModel(
        [
            ToolCall("write", {"path": "/workspace/notes.txt", "content": "alpha\nbeta\n"}),
            ToolCall("bash", {"command": "wc -l < /workspace/notes.txt"}),
            "Two lines.",
            ToolCall("read", {"path": "/workspace/notes.txt"}),
            "Still there.",
        ]
    )
    agent = Agent(name="scribe", model=model, skills=[])
    harness = Harness(root=tmp_path)
    first = await harness.send(agent, "write notes", id="n")
    assert first.ok, first.error
    assert model.requests[2].messages[-1]["content"].strip().startswith("2")
    # A new harness on the same store: the sandbox comes back from the snapshot kept with the session.
    second = await Harness(harness.store, root=tmp_path).send(agent, "read them", id="n")
    assert second.ok, second.error
    assert "alpha" in model.requests[4].messages[-1]["content"]
    events = await harness.log.read(first.session)
    execs = [e for e in events if isinstance(e, SandboxExec)]
    assert any("wc -l" in e.command and e.exit_code == 0 for e in execs)
    assert {t["function"]["name"] for t in model.requests[0].tools} == {"bash", "read", "write", "edit", "grep", "glob"}


async def test_builtin_tools_can_be_switched_off(tmp_path):
    model = ScriptedModel(["ok"])
    agent = Agent(name="reader", model=model, skills=[], builtin_tools=["read"])
    await Harness(root=tmp_path).send(agent, "x")
    assert [t["function"]["name"] for t in model.requests[0].tools] == ["read"]
