"""Integrations with training frameworks: each translates its framework's hooks into
``NatureTracker`` calls, through the framework's public API only."""
