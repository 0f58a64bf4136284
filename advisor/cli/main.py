"""The `advisor` console script."""
from __future__ import annotations

import sys

import typer

from advisor.cli import (
    compress_cmd,
    devices_cmd,
    evaluate_cmd,
    inspect_cmd,
    profile_cmd,
    recommend_cmd,
    settings_cmd,
    train_cmd,
    zoo_cmd,
)
from advisor.cli.common import OneLineErrors

app = typer.Typer(
    cls=OneLineErrors, name="advisor", no_args_is_help=True, add_completion=False, pretty_exceptions_enable=False,
    help="Compression Advisor: whether and how to compress a neural network for an embedded device.")

app.command("inspect")(inspect_cmd.inspect)
app.command("settings")(settings_cmd.settings)
app.command("compress")(compress_cmd.compress)
app.command("profile")(profile_cmd.profile)
app.command("train")(train_cmd.train)
app.command("evaluate")(evaluate_cmd.evaluate)
app.command("devices")(devices_cmd.devices)
app.command("recommend")(recommend_cmd.recommend)
app.command("predict")(recommend_cmd.predict)
app.add_typer(zoo_cmd.app, name="zoo")


def main() -> None:
    """Entry point: the commands report their own errors; this is the last safety net."""
    try:
        app(prog_name="advisor")
    except KeyboardInterrupt:
        print("error: interrupted", file=sys.stderr)
        sys.exit(130)


if __name__ == "__main__":
    main()
