"""`advisor devices [--json] [NAME]`: the device catalogue, or one device with its precision tables."""
from __future__ import annotations

from typing import Annotated

import typer

from advisor.cli.common import handle_errors, print_json, stdout_console


@handle_errors
def devices(
    name: Annotated[str | None, typer.Argument(help="A device name: show its details and precision tables.")] = None,
    json_out: Annotated[bool, typer.Option("--json", help="Print one JSON document.")] = False,
) -> None:
    """List the target devices (specs, peak throughput, runtimes), or details of one device."""
    from advisor.devices import device_names, get_device

    if name is not None:
        device = get_device(name)
        if json_out:
            print_json(device.to_dict())
        else:
            _print_details(device)
        return
    all_devices = [get_device(n) for n in device_names()]
    if json_out:
        print_json([d.to_dict() for d in all_devices])
        return
    _print_list(all_devices)


def _num(value, unit: str = "") -> str:
    return "—" if value is None else f"{value:g}{unit}"


def _cpu(d) -> str:
    clock = f" @ {d.cpu.max_clock_mhz / 1000:.2f} GHz" if d.cpu.max_clock_mhz else ""
    return f"{d.cpu.cores}x {d.cpu.arch}{clock}"


def _gpu(d) -> str:
    if d.gpu is None:
        return "—"
    tc = f" + {d.gpu.tensor_core_count} TC" if d.gpu.tensor_cores else ""
    return f"{d.gpu.arch}: {d.gpu.cuda_cores} cores{tc} @ {d.gpu.max_clock_mhz:g} MHz"


def _print_list(all_devices) -> None:
    from rich.markup import escape
    from rich.table import Table

    table = Table(title="Devices (peak: dense TFLOPS/TOPS; see 'advisor devices NAME')")
    table.add_column("name", no_wrap=True)
    for col in ("CPU", "GPU", "memory", "bandwidth", "fp16", "int8", "runtimes"):
        table.add_column(col)
    for d in all_devices:
        table.add_row(escape(d.name), escape(_cpu(d)), escape(_gpu(d)), _num(d.memory_gb, " GB"), _num(d.memory_bandwidth_gbs, " GB/s"),
                      _num(d.peak_tops.get("fp16")), _num(d.peak_tops.get("int8")), ", ".join(d.runtimes))
    stdout_console().print(table)


def _print_details(d) -> None:
    from rich.markup import escape
    from rich.table import Table

    console = stdout_console()
    console.print(f"[bold]{escape(d.name)}[/bold]: {escape(d.description)}")
    console.print(f"CPU: {d.cpu.model} ({_cpu(d)})", markup=False)
    gpu_extra = f", compute capability {d.gpu.compute_capability}" if d.gpu and d.gpu.compute_capability else ""
    console.print(f"GPU: {_gpu(d)}{gpu_extra}", markup=False)
    console.print(f"Memory: {_num(d.memory_gb, ' GB')}, {_num(d.memory_bandwidth_gbs, ' GB/s')}")
    console.print("Peak: " + (", ".join(f"{k} {v:g}" for k, v in d.peak_tops.items()) or "—")
                  + " (TFLOPS/TOPS)")
    console.print(f"JetPack: {', '.join(d.jetpack) or '—'}; Python {d.python}")
    if d.notes:
        console.print(f"Notes: {d.notes}", markup=False)
    modes = Table(title="Power modes")
    for col in ("mode", "nvpmodel id", "watts", "description"):
        modes.add_column(col)
    for m in d.power_modes:
        modes.add_row(escape(m.name), _num(m.nvpmodel_id), _num(m.watts, " W"), escape(m.description))
    console.print(modes)
    for runtime, support in d.runtimes.items():
        table = Table(title=escape(f"{runtime}: {support.note}" if support.note else runtime))
        for col in ("precision", "supported", "fast", "note"):
            table.add_column(col)
        for key, p in support.precisions.items():
            table.add_row(key, "yes" if p.supported else "no", "yes" if p.fast else "no", escape(p.note))
        console.print(table)
    console.print("Sources:")
    for source in d.sources:
        console.print(f"  - {source}", soft_wrap=True, markup=False)
