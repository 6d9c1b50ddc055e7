"""The public test kit: offline models and a guard that keeps a test suite from calling a real model.

```python
from flue_py.testing import ScriptedModel, ToolCall, block_model_requests

block_model_requests()      # in conftest.py: any real (non-loopback) model request now fails loudly
model = ScriptedModel([ToolCall("lookup_order", {"order_id": "A-1"}), "Your order shipped."])
result = await support.run("Where is my order?", model=model)
```
"""

from __future__ import annotations

from flue_py.models import base as _model_base
from flue_py.models.scripted import SchemaDrivenModel, ScriptedModel, ToolCall, generate_example

__all__ = [
    "SchemaDrivenModel",
    "ScriptedModel",
    "ToolCall",
    "allow_model_requests",
    "block_model_requests",
    "generate_example",
]


def block_model_requests() -> None:
    """Make every request to a remote model raise, so a test that forgot to script its model fails."""
    _model_base.ALLOW_MODEL_REQUESTS = False


def allow_model_requests() -> None:
    _model_base.ALLOW_MODEL_REQUESTS = True
