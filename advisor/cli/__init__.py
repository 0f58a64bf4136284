"""Typer commands: parse, call one api function, render. Heavy imports happen inside commands."""
