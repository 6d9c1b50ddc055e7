"""The `review` workflow: a document in, a typed review out.

Run it:  flue run review --input '{"title": "Release notes", "text": "We shipped search. Docs are missing."}'
Serve:   POST /workflows/review with the same JSON.
"""

from typing import Literal

from flue_py import Context, workflow
from pydantic import BaseModel, Field

from agents.hello import hello


class Document(BaseModel):
    title: str
    text: str = Field(min_length=1)


class Review(BaseModel):
    summary: str = Field(description="One or two sentences")
    verdict: Literal["ready", "needs-work"]
    action_items: list[str] = Field(description="Concrete changes, most important first; empty when ready")


@workflow
async def review(ctx: Context, document: Document) -> Review:
    """Review a document against the review checklist."""
    # Workflows can stage files for the agent: it reads them with its sandbox tools (read, grep, bash).
    sandbox = await ctx.get_sandbox()
    await sandbox.write_file("/workspace/document.md", f"# {document.title}\n\n{document.text}\n")
    review = await ctx.prompt(
        "Review /workspace/document.md. Follow the review-checklist skill.",
        agent=hello,
        result=Review,  # validated against Review; the model is re-asked if its answer does not fit
    )
    if review.verdict == "ready":
        # Plain Python between prompts: the workflow, not the model, owns the rules.
        review.action_items = []
    return review
