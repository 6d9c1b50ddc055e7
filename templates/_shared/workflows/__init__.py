"""The project's workflows: every `@workflow` in this folder is served and runnable by name.

This file makes `workflows` a regular package, so an installed distribution of the same name cannot shadow it.
"""
