"""A support agent with two tools and a skill (skills/refunds). Run: flue run support -m "Where is A-1001?" """

from typing import Annotated

from pydantic import Field

from flue_py import Agent, ToolRetry, tool

OrderId = Annotated[str, Field(examples=["A-1001"], description="The order number, for example A-1001.")]

ORDERS = {
    "A-1001": {"status": "shipped", "carrier": "UPS", "total": 42.5},
    "A-1002": {"status": "processing", "carrier": None, "total": 17.0},
}


@tool
def lookup_order(order_id: OrderId) -> dict:
    """Look up an order by its id."""
    if order_id not in ORDERS:
        raise ToolRetry(f"No order {order_id!r}. Known ids look like A-1001; ask the customer to check.")
    return {"order_id": order_id, **ORDERS[order_id]}


@tool
def refund_quote(order_id: OrderId, percent: int = 100) -> dict:
    """Compute how much a refund of an order would be.

    Args:
        percent: Share of the order total to refund, 1-100.
    """
    order = ORDERS.get(order_id)
    if order is None:
        raise ToolRetry(f"No order {order_id!r}.")
    return {"order_id": order_id, "amount": round(order["total"] * percent / 100, 2)}


support = Agent(
    name="support",
    model="anthropic/claude-sonnet-4-5",
    instructions="You help ACME customers with their orders. Be brief and concrete.",
    tools=[lookup_order, refund_quote],
)
