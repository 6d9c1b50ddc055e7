"""A workflow: typed input in, typed result out. Run: flue run triage --input '{"title": "...", "body": "..."}'"""

from pydantic import BaseModel, Field

from agents.support import support
from flue_py import Context, workflow


class Issue(BaseModel):
    title: str
    body: str


class Triage(BaseModel):
    label: str = Field(description="One of: bug, refund, question")
    priority: int = Field(ge=1, le=3, description="1 is most urgent")


@workflow
async def triage(ctx: Context, issue: Issue) -> Triage:
    """Label and prioritise a customer issue."""
    sandbox = await ctx.get_sandbox()
    await sandbox.write_file("/workspace/issue.md", f"# {issue.title}\n\n{issue.body}\n")
    return await ctx.prompt("Triage the issue in /workspace/issue.md.", agent=support, result=Triage)
