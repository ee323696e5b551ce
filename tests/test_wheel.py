"""A built wheel, installed into a fresh virtual environment, finds its templates and catalogs.

Builds the wheel with the current interpreter (no network, no build isolation), installs it with
``--no-deps`` into a new venv created outside the repository, and points that venv at the test
environment's site-packages for third-party dependencies only (a ``.pth`` path entry: the editable
install's own ``.pth`` hook is not processed, so the checkout is not importable there).
"""

from __future__ import annotations

import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]


def _run(cmd: list[str], cwd: Path, timeout: float = 120) -> subprocess.CompletedProcess:
    res = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, timeout=timeout)
    assert res.returncode == 0, f"{cmd}\nstdout:\n{res.stdout[-3000:]}\nstderr:\n{res.stderr[-3000:]}"
    return res


@pytest.mark.slow
def test_wheel_in_fresh_venv_finds_templates(tmp_path, ref_dir):
    dist = tmp_path / "dist"
    try:
        import build  # noqa: F401
        cmd = [sys.executable, "-m", "build", "--wheel", "--no-isolation", "--outdir", str(dist), str(REPO)]
    except ImportError:  # pragma: no cover - pip fallback
        cmd = [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-w", str(dist), str(REPO)]
    _run(cmd, cwd=tmp_path, timeout=300)
    wheels = list(dist.glob("looplab-*.whl"))
    assert len(wheels) == 1, list(dist.iterdir())

    import zipfile

    names = set(zipfile.ZipFile(wheels[0]).namelist())
    for required in ("looplab/_templates/arch/simba.yaml.j2", "looplab/_templates/arch/gemmini.yaml.j2",
                     "looplab/_templates/problem.yaml.j2", "looplab/_templates/mapping.yaml.j2",
                     "looplab/data/workloads/resnet50.json", "arch_gen/__init__.py", "mappers/mapping.py"):
        assert required in names, required

    venv = tmp_path / "venv"
    _run([sys.executable, "-m", "venv", "--without-pip", str(venv)], cwd=tmp_path)
    vpy = venv / "bin" / "python"
    _run([sys.executable, "-m", "pip", "--python", str(vpy), "install", "--no-deps", "--no-index", "-q",
          str(wheels[0])], cwd=tmp_path, timeout=300)
    site = Path(_run([str(vpy), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                     cwd=tmp_path).stdout.strip())
    (site / "zz_test_deps.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")

    probe = ("import looplab, arch_gen, mappers.mapping; from looplab.paths import templates_dir; "
             "print(looplab.__file__); print(arch_gen.__file__); print(templates_dir())")
    lines = _run([str(vpy), "-c", probe], cwd=tmp_path).stdout.split()
    for line in lines:
        assert Path(line).resolve().is_relative_to(site.resolve()), (line, site)
        assert not Path(line).resolve().is_relative_to(REPO), line
    assert lines[2].endswith("looplab/_templates")

    out = tmp_path / "arch.yaml"
    _run([str(venv / "bin" / "looplab"), "emit", "arch", "--preset", "simba_final", "-o", str(out)], cwd=tmp_path)
    ref = yaml.safe_load((ref_dir / "archs" / "simba_final" / "arch.yaml").read_text())
    assert yaml.safe_load(out.read_text()) == ref
    res = _run([str(venv / "bin" / "looplab"), "emit", "problem", "--workload", "resnet50", "--layer",
                "_outputs_3356"], cwd=tmp_path)
    assert res.stdout == (ref_dir / "layers" / "resnet50._outputs_3356.yaml").read_text()
