"""Finding the external binaries the project runs (Prometheus's, Temporal's, ...) and promtool.

Low level on purpose: the demo's backfill (`demo/`) and the dev stack (`devstack/`) both need
promtool, and neither may import the other for it.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

PROMETHEUS_HINT = (
    "Install it: `sudo apt-get install prometheus` (Debian/Ubuntu), `brew install prometheus` "
    "(macOS), or put prometheus and promtool from https://prometheus.io/download/ on PATH."
)


def find_binary(name: str, *alternatives: str, hint: str = "") -> str:
    """A binary on PATH or next to this interpreter (the venv's bin/, for pip packages)."""
    here = Path(sys.executable).parent
    for candidate in (name, *alternatives):
        found = shutil.which(candidate)
        if found:
            return found
        beside = here / candidate
        if beside.is_file() and os.access(beside, os.X_OK):
            return str(beside)
    raise FileNotFoundError(f"`{name}` not found on PATH or in {here}. {hint}".rstrip())


def write_openmetrics_blocks(openmetrics_file: Path, data_dir: Path) -> None:
    """Turn an OpenMetrics file into TSDB blocks in `data_dir` (Prometheus must not be running
    on it yet, or must be restarted to pick them up)."""
    promtool = find_binary("promtool", hint=PROMETHEUS_HINT)
    data_dir.mkdir(parents=True, exist_ok=True)
    base = [promtool, "tsdb", "create-blocks-from", "openmetrics", "--quiet"]
    # Without a long maximum, promtool cuts 2 h blocks and re-reads the whole file for each one:
    # 360 passes for 30 days. The flag exists (hidden) since 2.3x; retry without it if unknown.
    files = [str(openmetrics_file), str(data_dir)]
    done = subprocess.run([*base, "--max-block-duration=744h", *files], capture_output=True, check=False)
    if done.returncode != 0 and b"unknown long flag" in done.stderr:
        done = subprocess.run([*base, *files], capture_output=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(
            f"promtool could not create blocks from {openmetrics_file}:\n"
            f"{done.stderr.decode(errors='replace')}"
        )
