"""Builders for the networks the advisor characterises (torch imported lazily, inside builders)."""
