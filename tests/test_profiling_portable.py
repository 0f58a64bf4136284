"""profiling/ must run alone on a Jetson TX2 (JetPack 4.6, Python 3.6): syntax and imports."""
from __future__ import annotations

import ast
import shutil
import subprocess
import sys
from pathlib import Path

PROFILING = Path(__file__).resolve().parents[1] / "profiling"
ALLOWED_THIRD_PARTY = {"numpy", "onnxruntime", "pynvml"}


def test_vermin_python36():
    vermin = shutil.which("vermin") or str(Path(sys.executable).with_name("vermin"))
    # --exclude profiling: Python 3.15 adds a stdlib module of that name, which vermin would flag.
    proc = subprocess.run([vermin, "-t=3.6-", "--no-tips", "--violations", "--exclude", "profiling", str(PROFILING)],
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_imports_only_stdlib_numpy_onnxruntime():
    bad = []
    for path in PROFILING.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else \
                [node.module] if isinstance(node, ast.ImportFrom) and node.module and node.level == 0 else []
            for name in names:
                top = name.split(".")[0]
                if top == "profiling" or top in sys.stdlib_module_names or top in ALLOWED_THIRD_PARTY:
                    continue
                bad.append(f"{path.relative_to(PROFILING.parent)}: {name}")
    assert not bad, bad
