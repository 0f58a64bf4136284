"""`advisor profile MODEL... --settings a,b|all --out FILE.jsonl [--data FILE.npz]`."""
from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from advisor.cli.common import EXIT_INTERRUPTED, fail, handle_errors, print_json, stderr_console
from advisor.cli.inspect_cmd import InputShapeOpt
from advisor.units import parse_percent, parse_time_ms


@handle_errors
def profile(models: Annotated[list[Path], typer.Argument(help="ONNX model files.")],
            out: Annotated[Path, typer.Option("--out", "-o", help="Append-only JSONL of profile records.")],
            settings: Annotated[str, typer.Option("--settings", help="'all' or a comma list.")] = "all",
            data: Annotated[Path | None, typer.Option("--data", help=".npz inputs (+labels) for calibration "
                                                      "and accuracy, for every model. Without it, MODEL.npz "
                                                      "next to a model is used when present, else seeded "
                                                      "synthetic inputs.")] = None,
            device: Annotated[str, typer.Option(help="Device label recorded with each measurement.")] = "host",
            runtime: Annotated[str, typer.Option(help="Runtime (onnxruntime-cpu, -cuda, -tensorrt).")] =
            "onnxruntime-cpu",
            threads: Annotated[int, typer.Option(help="Intra-op threads, pinned.")] = 1,
            min_runs: Annotated[int, typer.Option(help="Fewest timed runs.")] = 10,
            max_runs: Annotated[int, typer.Option(help="Most timed runs.")] = 200,
            target_ci: Annotated[str, typer.Option(help="Stop when the 95% CI half-width is under this share "
                                                   "of the mean.")] = "5%",
            time_budget: Annotated[str, typer.Option(help="Time budget per variant, e.g. 10s.")] = "10s",
            timeout: Annotated[str, typer.Option(help="Kill a variant after this long, e.g. 300s.")] = "300s",
            no_interleave: Annotated[bool, typer.Option("--no-interleave", help="Time variants alone instead of "
                                                        "alternating with the baseline.")] = False,
            wait: Annotated[bool, typer.Option("--wait", help="Wait for the device lock.")] = False,
            work_dir: Annotated[Path | None, typer.Option(help="Where compressed variants are cached.")] = None,
            compress_jobs: Annotated[int, typer.Option(help="Processes compressing models before measuring.")] = 1,
            accuracy_samples: Annotated[int, typer.Option(help="Synthetic samples for the fidelity check.")] = 8,
            input_shape: InputShapeOpt = None,
            node_profile: Annotated[bool, typer.Option("--node-profile", help="Also record per-node kernel times "
                                                       "(onnxruntime's profiler, after the timing, in a session "
                                                       "of their own) for the layer-time predictor.")] = False,
            cluster: Annotated[str | None, typer.Option("--cluster", help="Dask scheduler (tcp://HOST:8786): "
                                                        "measure on workers with resource DEVICE=1 "
                                                        "(docs/FARM.md).")] = None,
            shared_storage: Annotated[bool, typer.Option("--shared-storage", help="With --cluster: workers "
                                                         "read model paths as-is instead of receiving the "
                                                         "bytes.")] = False,
            agent_command: Annotated[str | None, typer.Option("--agent-command", help="With --cluster: "
                                                              "measure through this command template "
                                                              "({job} {result} {dir} {python} {host}).")] = None,
            json_out: Annotated[bool, typer.Option("--json", help="Print the counts as JSON.")] = False) -> None:
    """Compress each MODEL with each setting and measure every variant; rerun to resume."""
    from advisor.profile import SweepOptions, run_sweep
    from advisor.shapes import parse_input_shapes

    if (shared_storage or agent_command) and not cluster:
        raise fail("--shared-storage and --agent-command need --cluster")
    if cluster:
        from advisor.farm import require_dask

        require_dask()
    shapes = parse_input_shapes(input_shape)
    opts = SweepOptions(device=device, runtime=runtime, threads=threads, min_runs=min_runs, max_runs=max_runs,
                        target_rel_ci=parse_percent(target_ci) / 100, time_budget_s=parse_time_ms(time_budget) / 1000,
                        timeout_s=parse_time_ms(timeout) / 1000, interleaved=not no_interleave, wait_for_lock=wait,
                        work_dir=str(work_dir) if work_dir else None, compress_jobs=compress_jobs,
                        accuracy_samples=accuracy_samples, node_profile=node_profile)
    try:
        with _Progress(len(models)) as bar:
            if cluster:
                from advisor.farm import run_farm_sweep

                counts = run_farm_sweep(models, settings, out, opts, cluster, shared_storage=shared_storage,
                                        agent_command=agent_command, data=data, progress=bar.update,
                                        input_shapes=shapes)
            else:
                counts = run_sweep(models, settings, out, opts, data=data, progress=bar.update, input_shapes=shapes)
    except KeyboardInterrupt:
        raise fail(f"interrupted; records already in {out} are kept; rerun the same command to resume",
                   EXIT_INTERRUPTED) from None
    if json_out:
        print_json(counts)
    else:
        stderr_console().print(f"records in {out}: " + ", ".join(f"{k} {v}" for k, v in counts.items()))


class _Progress:
    """A rich progress bar (stderr) fed by the sweep's progress events."""

    def __init__(self, n_models: int):
        from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

        self.progress = Progress(TextColumn("{task.description}"), BarColumn(), TextColumn("{task.completed}/"
                                 "{task.total}"), TimeElapsedColumn(), TimeRemainingColumn(),
                                 console=stderr_console(), transient=False)
        self.task = None
        self.n_models = n_models

    def __enter__(self):
        self.progress.__enter__()
        self.task = self.progress.add_task("preparing", total=None)
        return self

    def __exit__(self, *exc):
        return self.progress.__exit__(*exc)

    def update(self, event: str, item: dict, rec: dict | None) -> None:
        if event == "plan":
            self.progress.update(self.task, total=item["n_items"], description="measuring")
            return
        label = f"{item['model']['name']} / {item['setting']['name']}"
        if event == "compress":
            self.progress.update(self.task, description=f"compressing {label}")
        elif event == "start":
            self.progress.update(self.task, description=f"measuring {label}")
        elif event in ("skip", "done", "lost"):
            self.progress.advance(self.task)
            if rec is not None and rec["status"] != "ok":
                self.progress.console.print(f"  {rec['status']}: {label}: {rec['error']}")
