"""The `hello` agent, offline: a ScriptedModel plays the model's side turn by turn."""

from flue_py.testing import ScriptedModel, ToolCall

from agents.hello import hello, lookup_faq


def test_the_tool_is_a_plain_function():
    assert lookup_faq("hours") == "We are open 9:00-17:00, Monday to Friday."


def test_hello_looks_the_answer_up():
    model = ScriptedModel([ToolCall("lookup_faq", {"topic": "hours"}), "We are open 9 to 5 on weekdays."])
    result = hello.run_sync("When are you open?", model=model)
    assert result.outcome == "completed"
    assert result.reply == "We are open 9 to 5 on weekdays."
    # The second request carries the tool's result back to the model.
    tool_results = [m["content"] for m in model.requests[1].messages if m["role"] == "tool"]
    assert tool_results == ["We are open 9:00-17:00, Monday to Friday."]


def test_a_bad_argument_goes_back_to_the_model():
    model = ScriptedModel([ToolCall("lookup_faq", {"topic": "weather"}), "Sorry, I cannot tell."])
    result = hello.run_sync("Will it rain?", model=model)
    assert result.outcome == "completed"
    error = next(m["content"] for m in model.requests[1].messages if m["role"] == "tool")
    assert "topic" in error


def test_hello_can_load_its_skill():
    model = ScriptedModel([ToolCall("activate_skill", {"name": "house-style"}), "Hello!"])
    result = hello.run_sync("hi", model=model)
    assert result.outcome == "completed"
    skill_body = next(m["content"] for m in model.requests[1].messages if m["role"] == "tool")
    assert "Answer the question in the first sentence" in skill_body


def test_the_offline_test_model_calls_each_tool():
    result = hello.run_sync("hi", model="test")
    assert result.outcome == "completed"
    assert "lookup_faq returned" in result.reply
