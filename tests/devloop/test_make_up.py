"""`make up` on a machine without its tools stops at once and says what to install."""

import os
import shutil
import subprocess
import time

import pytest

from tests.devloop.tools import REPO

BASICS = ["bash", "sh", "env", "make", "awk", "sed", "tr", "uname", "cat", "grep"]


def make_up(tmp_path, extra_tools=None):
    """Run `make up` with a PATH holding only basic utilities (and `extra_tools`)."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for name in BASICS:
        os.symlink(shutil.which(name), bin_dir / name)
    for name, script in (extra_tools or {}).items():
        (bin_dir / name).write_text(script)
        (bin_dir / name).chmod(0o755)
    empty = tmp_path / "empty"
    env = {"PATH": str(bin_dir), "HOME": str(tmp_path)}
    started = time.monotonic()
    done = subprocess.run(
        ["make", "--no-print-directory", "-C", str(REPO), "up", f"TOOLS={empty}", f"VENV={empty}"],
        env=env, capture_output=True, text=True, timeout=30,
    )  # fmt: skip
    return done, time.monotonic() - started


def test_missing_docker_and_kind_are_named_within_a_second(tmp_path):
    done, seconds = make_up(tmp_path)
    assert done.returncode != 0
    assert seconds < 1.0
    assert "preflight: docker not found: install Docker Engine" in done.stderr
    assert "preflight: kind not found: run 'make tools'" in done.stderr


@pytest.mark.parametrize("missing", ["kind", "helm", "kubectl"])
def test_each_missing_tool_is_named(tmp_path, missing):
    tools = ("docker", "kind", "helm", "kubectl")
    present = {name: "#!/bin/sh\nexit 0\n" for name in tools if name != missing}
    done, seconds = make_up(tmp_path, present)
    assert done.returncode != 0 and seconds < 1.0
    assert f"preflight: {missing} not found" in done.stderr
    assert done.stderr.count("preflight:") == 1


def test_a_stopped_docker_daemon_is_named(tmp_path):
    tools = {name: "#!/bin/sh\nexit 0\n" for name in ("kind", "helm", "kubectl")}
    tools["docker"] = "#!/bin/sh\necho 'Cannot connect to the Docker daemon' >&2\nexit 1\n"
    done, seconds = make_up(tmp_path, tools)
    assert done.returncode != 0 and seconds < 1.0
    assert "preflight: the Docker daemon is not running" in done.stderr
