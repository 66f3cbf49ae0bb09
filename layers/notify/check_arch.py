"""Build check (layers/notify/Makefile) for a layer built for another architecture than the
build machine's: every compiled extension is an ELF file for that architecture.

    python check_arch.py <layer python dir> <x86_64|aarch64>
"""

from __future__ import annotations

import pathlib
import struct
import sys

MACHINES = {"x86_64": 62, "aarch64": 183}  # ELF e_machine


def machine(path: pathlib.Path) -> int | None:
    header = path.read_bytes()[:20]
    if header[:4] != b"\x7fELF":
        return None
    return struct.unpack("<H" if header[5] == 1 else ">H", header[18:20])[0]


def main(root: str, arch: str) -> int:
    wanted = MACHINES[arch]
    extensions = sorted(pathlib.Path(root).rglob("*.so"))
    wrong = [str(p) for p in extensions if machine(p) != wanted]
    if not extensions or wrong:
        print(f"check_arch: {len(wrong)} of {len(extensions)} extensions are not {arch}: {wrong[:5]}")
        return 1
    print(f"check_arch: {len(extensions)} compiled extensions, all {arch} (not importable on this machine)")
    return 0


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:3]))
