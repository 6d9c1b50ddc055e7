"""The `hello` agent, offline: a ScriptedModel plays the model's side turn by turn."""

from flue_py.testing import ScriptedModel, ToolCall

from agents.hello import hello, text_stats


def test_the_tool_is_a_plain_function():
    assert text_stats("One two three. Four five!") == {"words": 5, "sentences": 2, "reading_minutes": 0.0}


def test_hello_measures_before_answering():
    model = ScriptedModel([ToolCall("text_stats", {"text": "Short and sweet."}), "It is three words long."])
    result = hello.run_sync("How long is 'Short and sweet.'?", model=model)
    assert result.outcome == "completed"
    assert result.reply == "It is three words long."
    tool_results = [m["content"] for m in model.requests[1].messages if m["role"] == "tool"]
    assert '"words": 3' in tool_results[0]


def test_hello_can_load_its_skill():
    model = ScriptedModel([ToolCall("activate_skill", {"name": "review-checklist"}), "Noted."])
    result = hello.run_sync("Review my note", model=model)
    assert result.outcome == "completed"
    skill_body = next(m["content"] for m in model.requests[1].messages if m["role"] == "tool")
    assert "Next steps" in skill_body


def test_the_offline_test_model_calls_each_tool():
    result = hello.run_sync("hi", model="test")
    assert result.outcome == "completed"
    assert "text_stats returned" in result.reply
