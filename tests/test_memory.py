"""lstmkit.utils.keep_freed_memory: after it, a 13 MB tensor comes from glibc's heap instead of a fresh mapping
(glibc's own accounting, mallinfo2, is the independent witness), and bad values are refused by name."""

import subprocess
import sys

import pytest

from lstmkit.utils import keep_freed_memory

# prints the bytes glibc holds in mmapped chunks while a 13 MB tensor is alive, minus before it
PROBE = """
import ctypes, sys
class Info(ctypes.Structure):
    _fields_ = [(n, ctypes.c_size_t) for n in ("arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks",
                                                 "fsmblks", "uordblks", "fordblks", "keepcost")]
libc = ctypes.CDLL("libc.so.6")
libc.mallinfo2.restype = Info
if sys.argv[1] == "keep":
    from lstmkit.utils import keep_freed_memory
    assert keep_freed_memory()
import torch
before = libc.mallinfo2().hblkhd
x = torch.empty(100, 32, 1024)
print(libc.mallinfo2().hblkhd - before)
"""


def _mmapped_growth(mode: str) -> int:
    out = subprocess.run([sys.executable, "-c", PROBE, mode], capture_output=True, text=True, check=True)
    return int(out.stdout.split()[-1])


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc only")
def test_large_tensor_comes_from_the_heap_after_keep_freed_memory():
    size = 100 * 32 * 1024 * 4
    assert _mmapped_growth("default") >= size  # glibc maps a fresh region for it by default
    assert _mmapped_growth("keep") < size  # ... and serves it from the heap after the call


@pytest.mark.parametrize("kwargs, match", [
    (dict(mmap_threshold=64 * 2**20), r"mmap_threshold: glibc accepts at most 33554432 bytes"),
    (dict(trim_threshold=-1), r"trim_threshold: expected an int in \[0, 2147483647\], got -1"),
    (dict(mmap_threshold=1.5), r"mmap_threshold: expected an int"),
])
def test_bad_thresholds(kwargs, match):
    with pytest.raises(ValueError, match=match):
        keep_freed_memory(**kwargs)


@pytest.mark.parametrize("enabled", [True, False])
def test_prepare_run_applies_the_extra(monkeypatch, enabled):
    from omegaconf import OmegaConf

    import lstmkit.train

    calls = []
    monkeypatch.setattr(lstmkit.train, "keep_freed_memory", lambda: calls.append(True))
    lstmkit.train.prepare_run(OmegaConf.create({"extras": {"keep_freed_memory": enabled, "print_config": False}}))
    assert calls == ([True] if enabled else [])
