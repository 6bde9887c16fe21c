"""``keep_freed_memory``: large tensors reuse freed heap memory instead of faulting in fresh pages (glibc only)."""

from __future__ import annotations

import os
import platform
import subprocess
import sys

import pytest

pytestmark = pytest.mark.skipif(platform.system() != "Linux" or platform.libc_ver()[0] != "glibc",
                                reason="the allocator tuning is for glibc")

PROBE = """
import resource, sys
import torch
from genie_gym.allocator import keep_freed_memory
applied = keep_freed_memory()
windows = []
for _ in range(3):  # 10 x a 64 MB tensor made and freed, as a training step does with its activations
    faults = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    for _ in range(10):
        torch.empty(16 * 1024 * 1024).fill_(1.0)
    windows.append(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - faults)
print(applied, min(windows))
"""


def _probe(**env: str) -> tuple[bool, int]:
    result = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True, check=True,
                            env={**os.environ, **env})
    applied, faults = result.stdout.split()
    return applied == "True", int(faults)


def test_freed_tensors_are_reused_without_page_faults() -> None:
    kept, kept_faults = _probe(GENIE_GYM_MALLOC="")
    system, system_faults = _probe(GENIE_GYM_MALLOC="system")
    assert kept and not system
    if system_faults < 50_000:  # e.g. a kernel that backs every fresh mapping with 2 MB pages (THP "always")
        pytest.skip(f"fresh 64 MB blocks cost only {system_faults} page faults per 10 here: nothing to save")
    # 10 x 64 MB with the C library's defaults: a fresh mmap each time (~16k faults each); kept: once the heap has
    # grown (the first window or two), none
    assert kept_faults < system_faults / 10, (kept_faults, system_faults)


def test_the_genie_command_applies_it() -> None:
    code = ("import genie_gym.allocator as allocator, genie_gym.cli as cli\n"
            "status = cli.main(['roms', 'list'])\n"
            "print('applied', allocator._applied)")
    for setting, expected in (("", "applied True"), ("system", "applied False")):
        result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                                env={**os.environ, "GENIE_GYM_MALLOC": setting})
        assert expected in result.stdout, (result.stdout, result.stderr)


TRIM_PROBE = """
import torch
from genie_gym.allocator import keep_freed_memory, release_freed_memory
def resident_mb():
    return int(open('/proc/self/statm').read().split()[1]) * 4096 / 2**20
keep_freed_memory()
base = resident_mb()
pinned = []
for i in range(100):  # tensors of changing size, as MaskGIT training makes, with small ones kept in between
    torch.empty(1_000_000 + i * 100_003).fill_(1.0)
    pinned.append(torch.ones(1000))
grown = resident_mb()
release_freed_memory()
print(base, grown, resident_mb())
"""


def test_release_freed_memory_gives_the_kept_heap_back() -> None:
    result = subprocess.run([sys.executable, "-c", TRIM_PROBE], capture_output=True, text=True, check=True,
                            env={**os.environ, "GENIE_GYM_MALLOC": ""})
    base, grown, released = map(float, result.stdout.split())
    assert grown - base > 20, (base, grown)  # the freed tensors stayed resident
    assert released - base < (grown - base) / 2, (base, grown, released)
