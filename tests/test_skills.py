"""The lenient loader, the catalog and the two skill tools. The strict checker and CLI are in tests/skills/."""

from __future__ import annotations

import asyncio
import logging
import os
from pathlib import Path
from typing import Any

import pytest

from flue_py.events import SkillActivated
from flue_py.exceptions import NotFoundError, UserError
from flue_py.skills import (
    Skill,
    SkillLoadError,
    SkillWarning,
    check_skill,
    discover_skills,
    first_party_skills,
    load_skill,
    render_activation,
    render_catalog,
    skill_tools,
)
from flue_py.tools import Tool, ToolContext

REPO = Path(__file__).resolve().parent.parent


def write_skill(
    root: Path,
    directory: str,
    frontmatter: str | None,
    body: str = "Do the thing.",
    *,
    under: str = "skills",
    filename: str = "SKILL.md",
) -> Path:
    skill_dir = root / under / directory
    skill_dir.mkdir(parents=True, exist_ok=True)
    text = body if frontmatter is None else f"---\n{frontmatter.strip()}\n---\n{body}\n"
    (skill_dir / filename).write_text(text, encoding="utf-8")
    return skill_dir


def fm(name: str, description: str = "Does a thing. Use when a thing is needed.", extra: str = "") -> str:
    return f"name: {name}\ndescription: {description}\n{extra}"


def ctx(run: str = "run-1", emitted: list[Any] | None = None) -> ToolContext:
    async def emit(event: Any) -> None:
        assert emitted is not None
        emitted.append(event)

    on_emit = emit if emitted is not None else None
    return ToolContext(run=run, session="s-1", agent="support", call_id="c-1", emit=on_emit)


def tools_by_name(skills: list[Skill]) -> dict[str, Tool]:
    return {t.name: t for t in skill_tools(skills)}


# --- discovery and lenient loading ---------------------------------------------------------------------------


def test_discovers_both_dirs_sorted_by_name(tmp_path: Path) -> None:
    write_skill(tmp_path, "zeta", fm("zeta"))
    write_skill(tmp_path, "alpha", fm("alpha"), under=".agents/skills")
    write_skill(tmp_path, "mid", fm("mid"), filename="skill.md")
    (tmp_path / "skills" / "not-a-skill").mkdir()  # no SKILL.md: ignored
    (tmp_path / "skills" / ".hidden").mkdir()
    (tmp_path / "skills" / ".hidden" / "SKILL.md").write_text("---\nname: hidden\ndescription: x\n---\n")

    skills = discover_skills(tmp_path)

    assert [s.name for s in skills] == ["alpha", "mid", "zeta"]
    alpha = skills[0]
    assert alpha.path == tmp_path / ".agents" / "skills" / "alpha"
    assert alpha.body == "Do the thing."
    assert skills[1].file.name == "skill.md"


def test_no_skill_dirs_means_no_skills(tmp_path: Path) -> None:
    assert discover_skills(tmp_path) == []
    assert discover_skills(tmp_path / "missing") == []


def test_optional_fields_are_loaded(tmp_path: Path) -> None:
    extra = (
        "license: Apache-2.0\ncompatibility: Needs git\n"
        "metadata:\n  author: acme\n  version: 1.0\nallowed-tools: Bash(git:*) Read\n"
    )
    skill = load_skill(write_skill(tmp_path, "full", fm("full", extra=extra), body="\n\n# Title\n\nText\n\n"))
    assert skill.license == "Apache-2.0"
    assert skill.compatibility == "Needs git"
    assert skill.metadata == {"author": "acme", "version": "1.0"}  # stringified, as the reference parser does
    assert skill.allowed_tools == ("Bash(git:*)", "Read")
    assert skill.body == "# Title\n\nText"


def test_allowed_tools_as_a_list(tmp_path: Path) -> None:
    skill = load_skill(write_skill(tmp_path, "a", fm("a", extra="allowed-tools:\n  - Read\n  - Write\n")))
    assert skill.allowed_tools == ("Read", "Write")


def test_name_dir_mismatch_warns_and_loads(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    write_skill(tmp_path, "folder", fm("other-name"))
    with caplog.at_level(logging.WARNING, logger="flue_py.skills"):
        with pytest.warns(SkillWarning, match=r"SKILL.md:2: .*must match its directory name 'folder'"):
            skills = discover_skills(tmp_path)
    assert [s.name for s in skills] == ["other-name"]
    assert any("must match its directory name" in r.getMessage() for r in caplog.records)


def test_overlong_name_warns_and_loads(tmp_path: Path) -> None:
    name = "a" * 70
    write_skill(tmp_path, name, fm(name))
    with pytest.warns(SkillWarning, match="70 characters; the limit is 64"):
        skills = discover_skills(tmp_path)
    assert [s.name for s in skills] == [name]


def test_missing_name_falls_back_to_the_directory(tmp_path: Path) -> None:
    write_skill(tmp_path, "dirname", "description: Something useful.")
    with pytest.warns(SkillWarning, match="missing 'name'"):
        assert [s.name for s in discover_skills(tmp_path)] == ["dirname"]


def test_missing_description_is_skipped_with_a_warning(tmp_path: Path) -> None:
    write_skill(tmp_path, "nodesc", "name: nodesc")
    write_skill(tmp_path, "emptydesc", "name: emptydesc\ndescription: '  '")
    write_skill(tmp_path, "ok", fm("ok"))
    with pytest.warns(SkillWarning, match="missing 'description'") as record:
        skills = discover_skills(tmp_path)
    assert [s.name for s in skills] == ["ok"]
    assert sum("skipped" in str(w.message) for w in record) == 2


def test_unparseable_yaml_is_skipped(tmp_path: Path) -> None:
    write_skill(tmp_path, "broken", "name: broken\ndescription: [unclosed")
    write_skill(tmp_path, "nofront", None, body="# Just markdown\n")
    with pytest.warns(SkillWarning) as record:
        assert discover_skills(tmp_path) == []
    messages = sorted(str(w.message) for w in record)
    assert any("not valid YAML" in m and "(skipped)" in m for m in messages)
    assert any("must start with a '---' line" in m for m in messages)


def test_unquoted_colon_is_retried_with_quoting(tmp_path: Path) -> None:
    write_skill(tmp_path, "colon", "name: colon\ndescription: Use when: the user asks about refunds")
    with pytest.warns(SkillWarning, match=r"SKILL.md:3: frontmatter only parsed after quoting"):
        skills = discover_skills(tmp_path)
    assert skills[0].description == "Use when: the user asks about refunds"


def test_skills_dir_shadows_agents_dir(tmp_path: Path) -> None:
    write_skill(tmp_path, "dup", fm("dup", "From skills/."))
    write_skill(tmp_path, "dup", fm("dup", "From .agents/skills/."), under=".agents/skills")
    with pytest.warns(SkillWarning, match=r"\.agents/skills/dup/SKILL.md:1: skill 'dup' is shadowed by .*skills/dup"):
        skills = discover_skills(tmp_path)
    assert [(s.name, s.description) for s in skills] == [("dup", "From skills/.")]


def test_load_skill_raises_typed_errors(tmp_path: Path) -> None:
    with pytest.raises(NotFoundError):
        load_skill(tmp_path)
    broken = write_skill(tmp_path, "broken", "name: broken\ndescription: Fine\nmetadata: [a, b")
    with pytest.raises(SkillLoadError) as info:
        load_skill(broken)
    assert info.value.line == 4
    assert isinstance(info.value, UserError)
    assert str(info.value).startswith(f"{broken / 'SKILL.md'}:4: ")


def test_bad_metadata_and_allowed_tools_are_dropped_with_warnings(tmp_path: Path) -> None:
    directory = write_skill(tmp_path, "odd", fm("odd", extra="metadata: just text\nallowed-tools: 3"))
    with pytest.warns(SkillWarning) as record:
        skill = load_skill(directory)
    assert skill.metadata == {} and skill.allowed_tools == ()
    assert {str(w.message).split(": ", 1)[1].split(" ")[0] for w in record} == {"'metadata'", "'allowed-tools'"}


# --- resources ------------------------------------------------------------------------------------------------


def test_resources_list_other_visible_regular_files(tmp_path: Path) -> None:
    directory = write_skill(tmp_path, "res", fm("res"))
    (directory / "references").mkdir()
    (directory / "references" / "REFERENCE.md").write_text("ref")
    (directory / "scripts").mkdir()
    (directory / "scripts" / "run.py").write_text("print()")
    (directory / "POLICY.md").write_text("policy")
    (directory / ".env").write_text("SECRET=1")
    (directory / ".git").mkdir()
    (directory / ".git" / "config").write_text("x")
    (directory / "__pycache__").mkdir()
    (directory / "__pycache__" / "x.pyc").write_bytes(b"\0")
    outside = tmp_path / "outside.txt"
    outside.write_text("host secret")
    os.symlink(outside, directory / "leak.txt")
    os.symlink(tmp_path, directory / "leakdir")
    os.symlink(directory / "POLICY.md", directory / "alias.md")  # a link that stays inside is fine
    os.symlink(directory / "nowhere", directory / "dangling.md")

    skill = load_skill(directory)

    assert skill.resources() == ["POLICY.md", "alias.md", "references/REFERENCE.md", "scripts/run.py"]


def test_read_resource_returns_text_and_refuses_escapes(tmp_path: Path) -> None:
    directory = write_skill(tmp_path, "res", fm("res"))
    (directory / "POLICY.md").write_text("Refunds within 30 days.")
    (directory / ".env").write_text("SECRET=1")
    (tmp_path / "secret.txt").write_text("host secret")
    os.symlink(tmp_path / "secret.txt", directory / "leak.txt")
    skill = load_skill(directory)

    assert skill.read_resource("POLICY.md") == "Refunds within 30 days."
    assert skill.read_resource("./POLICY.md") == "Refunds within 30 days."
    for bad in ["../secret.txt", "/etc/passwd", "sub/../../secret.txt", "..\\secret.txt"]:
        with pytest.raises(UserError, match="outside the skill"):
            skill.read_resource(bad)
    with pytest.raises(UserError, match="links outside"):
        skill.read_resource("leak.txt")
    os.symlink(tmp_path, directory / "leakdir")
    with pytest.raises(UserError, match="links outside"):
        skill.read_resource("leakdir/secret.txt")
    with pytest.raises(UserError, match="hidden"):
        skill.read_resource(".env")
    with pytest.raises(NotFoundError):
        skill.read_resource("nope.md")


def test_read_resource_binary_and_large_files(tmp_path: Path) -> None:
    directory = write_skill(tmp_path, "res", fm("res"))
    (directory / "logo.png").write_bytes(b"\x89PNG\x00\x00data")
    (directory / "big.txt").write_text("x" * (300 * 1024))
    skill = load_skill(directory)
    assert "binary file of 10 bytes" in skill.read_resource("logo.png")
    big = skill.read_resource("big.txt")
    assert big.endswith(f"[truncated: showing {256 * 1024} of {300 * 1024} bytes]")


# --- catalog -------------------------------------------------------------------------------------------------


def test_catalog_is_empty_without_skills() -> None:
    assert render_catalog([]) == ""


def test_catalog_lists_each_skill_on_one_line(tmp_path: Path) -> None:
    skills = [
        Skill(name="refunds", description="Process a refund.\nUse when asked.", path=tmp_path),
        Skill(name="triage", description="Triage an issue.", path=tmp_path),
    ]
    catalog = render_catalog(skills)
    lines = catalog.splitlines()
    assert lines[0] == "## Available Skills"
    assert "`activate_skill`" in catalog
    assert lines[-2:] == ["- **refunds** — Process a refund. Use when asked.", "- **triage** — Triage an issue."]


# --- the tools -----------------------------------------------------------------------------------------------


@pytest.fixture
def refunds(tmp_path: Path) -> Skill:
    directory = write_skill(tmp_path, "refunds", fm("refunds"), body="# Refunds\n\n1. Read POLICY.md.")
    (directory / "POLICY.md").write_text("Refunds within 30 days.")
    (directory / "references").mkdir()
    (directory / "references" / "FAQ.md").write_text("faq")
    return load_skill(directory)


def test_no_skills_no_tools() -> None:
    assert skill_tools([]) == []


def test_tool_specs_name_the_available_skills(refunds: Skill, tmp_path: Path) -> None:
    other = Skill(name="triage", description="Triage.", path=tmp_path)
    tools = tools_by_name([refunds, other])
    assert list(tools) == ["activate_skill", "read_skill_resource"]
    spec = tools["activate_skill"].spec()["function"]
    assert "refunds, triage" in spec["description"]
    name_param = spec["parameters"]["properties"]["name"]
    assert name_param["type"] == "string" and "one of: refunds, triage" in name_param["description"]
    assert spec["parameters"]["required"] == ["name"]
    read_params = tools["read_skill_resource"].spec()["function"]["parameters"]
    assert sorted(read_params["properties"]) == ["path", "skill"]


async def test_activation_returns_body_and_resources_and_emits(refunds: Skill) -> None:
    emitted: list[Any] = []
    output = await tools_by_name([refunds])["activate_skill"].call({"name": "refunds"}, ctx(emitted=emitted))

    assert output.startswith('<skill_content name="refunds">\n# Refunds\n\n1. Read POLICY.md.\n</skill_content>')
    resources = output.split("<skill_resources>\n", 1)[1]
    assert "read_skill_resource" in resources
    assert resources.splitlines()[1:] == ["- POLICY.md", "- references/FAQ.md", "</skill_resources>"]
    assert output == render_activation(refunds)
    assert len(emitted) == 1 and isinstance(emitted[0], SkillActivated)
    assert (emitted[0].name, emitted[0].run, emitted[0].session, emitted[0].agent) == (
        "refunds",
        "run-1",
        "s-1",
        "support",
    )


async def test_activation_without_resources_or_emit(tmp_path: Path) -> None:
    skill = load_skill(write_skill(tmp_path, "plain", fm("plain"), body="Just do it."))
    output = await tools_by_name([skill])["activate_skill"].call({"name": "plain"}, ctx())
    assert output == '<skill_content name="plain">\nJust do it.\n</skill_content>'


async def test_repeat_activation_in_one_run_is_deduplicated(refunds: Skill) -> None:
    emitted: list[Any] = []
    activate = tools_by_name([refunds])["activate_skill"]
    first = await activate.call({"name": "refunds"}, ctx("run-1", emitted))
    again = await activate.call({"name": "refunds"}, ctx("run-1", emitted))
    other_run = await activate.call({"name": "refunds"}, ctx("run-2", emitted))

    assert "<skill_content" in first
    assert "already active" in again and "<skill_content" not in again
    assert other_run == first
    assert [e.run for e in emitted] == ["run-1", "run-2"]


async def test_concurrent_activations_emit_once(refunds: Skill) -> None:
    emitted: list[Any] = []
    activate = tools_by_name([refunds])["activate_skill"]
    outputs = await asyncio.gather(*(activate.call({"name": "refunds"}, ctx("run-1", emitted)) for _ in range(3)))
    assert sum("<skill_content" in o for o in outputs) == 1
    assert len(emitted) == 1


async def test_failed_emit_does_not_mark_the_skill_active(refunds: Skill) -> None:
    activate = tools_by_name([refunds])["activate_skill"]

    async def broken_emit(event: Any) -> None:
        raise RuntimeError("store down")

    failing = ToolContext(run="r", session="s", agent="a", call_id="c", emit=broken_emit)
    with pytest.raises(RuntimeError):
        await activate.call({"name": "refunds"}, failing)
    assert "<skill_content" in await activate.call({"name": "refunds"}, ctx("r"))


async def test_unknown_skill_lists_the_available_ones(refunds: Skill) -> None:
    output = await tools_by_name([refunds])["activate_skill"].call({"name": "refund"}, ctx())
    assert output == "There is no skill named 'refund'. Available skills: refunds."


async def test_names_match_case_insensitively(refunds: Skill) -> None:
    output = await tools_by_name([refunds])["activate_skill"].call({"name": " Refunds "}, ctx())
    assert output.startswith('<skill_content name="refunds">')


async def test_read_skill_resource_tool(refunds: Skill, tmp_path: Path) -> None:
    (tmp_path / "secret.txt").write_text("host secret")
    read = tools_by_name([refunds])["read_skill_resource"]

    assert await read.call({"skill": "refunds", "path": "POLICY.md"}, ctx()) == "Refunds within 30 days."
    assert await read.call({"skill": "refunds", "path": "references/FAQ.md"}, ctx()) == "faq"

    escaped = await read.call({"skill": "refunds", "path": "../../secret.txt"}, ctx())
    assert escaped.startswith("Refused:") and "outside the skill 'refunds'" in escaped
    assert "host secret" not in escaped

    missing = await read.call({"skill": "refunds", "path": "NOPE.md"}, ctx())
    assert missing == "Skill 'refunds' has no file 'NOPE.md'. Its files: POLICY.md, references/FAQ.md."

    unknown = await read.call({"skill": "nope", "path": "POLICY.md"}, ctx())
    assert unknown == "There is no skill named 'nope'. Available skills: refunds."


# --- the first-party skill -----------------------------------------------------------------------------------


def test_first_party_skill_is_strictly_valid() -> None:
    skills = first_party_skills()
    assert "flue-agent-authoring" in [s.name for s in skills]
    for directory in sorted(p for p in (REPO / "skills").iterdir() if p.is_dir()):
        assert check_skill(directory) == [], directory


def test_first_party_skill_references_its_resources() -> None:
    skill = next(s for s in first_party_skills() if s.name == "flue-agent-authoring")
    assert skill.resources() == ["references/REFERENCE.md"]
    assert "references/REFERENCE.md" in skill.body
    assert "ScriptedModel" in skill.read_resource("references/REFERENCE.md")
