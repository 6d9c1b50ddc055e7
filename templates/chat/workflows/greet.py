"""The `greet` workflow: typed input in, typed result out.

Run it:  flue run greet --input '{"name": "Ada", "language": "French"}'
"""

from flue_py import Context, workflow
from pydantic import BaseModel, Field

from agents.hello import hello


class Visitor(BaseModel):
    name: str
    language: str = "English"


class Greeting(BaseModel):
    text: str = Field(description="A one-sentence welcome, in the visitor's language")
    language: str


@workflow
async def greet(ctx: Context, visitor: Visitor) -> Greeting:
    """Welcome a visitor in their language."""
    return await ctx.prompt(
        f"Write a one-sentence welcome for {visitor.name}, in {visitor.language}.",
        agent=hello,
        result=Greeting,  # the reply is validated against Greeting; the model is re-asked if it does not fit
    )
