"""The NotifyLayer build recipe (layers/notify/Makefile, requirements.txt): lean and compiled.

`make build` itself is too slow for the suite (CI runs it); these check the recipe."""

from __future__ import annotations

import platform
import re
import shutil
import struct
import subprocess
import sys

import pytest
from template_helpers import ROOT

LAYER = ROOT / "layers" / "notify"
RUNTIME_SDK = {"boto3", "botocore", "s3transfer", "aws-xray-sdk"}


def requirement_names() -> set[str]:
    names = set()
    for line in (LAYER / "requirements.txt").read_text().splitlines():
        line = line.split("#")[0].strip()
        if line:
            names.add(re.split(r"[<>=!~\[; ]", line)[0].lower())
    return names


def recipe() -> str:
    return (LAYER / "Makefile").read_text()


def test_no_sdk_nor_xray_in_the_layer_requirements():
    names = requirement_names()
    assert names and not names & RUNTIME_SDK


def test_runtime_sdk_pinned_for_resolution_then_removed():
    text = recipe()
    assert re.search(r"^RUNTIME_BOTO3 \?= \d+\.\d+\.\d+$", text, re.M)
    assert "boto3==$(RUNTIME_BOTO3) botocore==$(RUNTIME_BOTOCORE)" in text
    assert re.search(r"NOT_SHIPPED = boto3 botocore s3transfer", text)
    assert "must not be in the layer" in text


def test_wheels_for_the_lambda_platform_and_python():
    text = recipe()
    assert "--only-binary=:all:" in text and "--python-version 3.12" in text
    assert "--platform manylinux2014_$(WHEEL_ARCH)" in text


def make_variable(name: str, *overrides: str) -> str:
    """A variable of the layer's Makefile as make computes it."""
    answer = subprocess.run(["make", "-s", "--no-print-directory", "-f", str(LAYER / "Makefile"), *overrides,
                             "--eval", f"show: ; @echo $({name})", "show"],
                            capture_output=True, text=True, check=True, cwd=LAYER)
    return answer.stdout.strip()


@pytest.mark.skipif(shutil.which("make") is None, reason="needs make")
@pytest.mark.parametrize("arch, wheels", [("x86_64", "x86_64"), ("arm64", "aarch64")])
def test_wheels_follow_the_architecture(arch, wheels):
    assert make_variable("PLATFORMS", f"ARCH={arch}") == (
        f"--platform manylinux2014_{wheels} --platform manylinux_2_28_{wheels}")
    native = platform.machine() == wheels
    assert bool(make_variable("NATIVE", f"ARCH={arch}")) is native  # the import check runs only here
    assert make_variable("STRIP", f"ARCH={arch}") == ("strip" if native else "llvm-strip")


def elf(machine: int) -> bytes:
    return b"\x7fELF\x02\x01\x01" + bytes(11) + struct.pack("<H", machine) + bytes(40)


def test_a_foreign_architecture_build_checks_every_extension_is_of_it(tmp_path):
    sys.path.insert(0, str(LAYER))
    try:
        import check_arch
    finally:
        sys.path.remove(str(LAYER))
    (tmp_path / "pkg").mkdir()
    (tmp_path / "pkg" / "_core.so").write_bytes(elf(183))
    assert check_arch.main(str(tmp_path), "aarch64") == 0
    (tmp_path / "pkg" / "_other.so").write_bytes(elf(62))  # an x86_64 wheel slipped in
    assert check_arch.main(str(tmp_path), "aarch64") == 1
    assert check_arch.main(str(tmp_path / "pkg" / "none"), "aarch64") == 1  # no extension at all: wrong too


def test_bytecode_compiled_hash_based_at_build_time():
    commands = [line for line in recipe().splitlines() if "compileall" in line and not line.lstrip().startswith("#")]
    assert commands and all("--invalidation-mode unchecked-hash" in c for c in commands)
    assert any('"$(TARGET)/fluxnotify"' in c for c in commands)


def test_every_runtime_dependency_of_the_package_is_in_the_layer():
    import tomllib

    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    needed = {re.split(r"[<>=!~\[; ]", d)[0].lower() for d in project["dependencies"]} - {"boto3"}
    assert needed <= requirement_names()
