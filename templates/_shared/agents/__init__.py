"""The project's agents: every module-level `Agent` in this folder is served and runnable by name.

This file makes `agents` a regular package, so an installed distribution with a top-level `agents`
module (openai-agents has one) cannot shadow it.
"""
