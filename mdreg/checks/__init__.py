"""Checks of an artifact as the service would make them: introspection and the score.py runner."""
