"""Flows: decision trees that guide a session (the model, validation, matching and the runner)."""
