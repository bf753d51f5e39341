"""training/host_malloc: large buffers freed in one step are reused by the next, without new page faults."""
import os
import subprocess
import sys

import pytest

# Mallocs, fills and frees 64 MiB 5 times in a worker thread (as XLA allocates), then prints
# the page faults of the last 4 rounds. (Through libc itself: numpy asks for huge pages.)
PROBE = """
import ctypes, resource, threading
from xling_jax.training import host_malloc
host_malloc.tune()
libc = ctypes.CDLL("libc.so.6")
libc.malloc.restype, libc.malloc.argtypes = ctypes.c_void_p, (ctypes.c_size_t,)
libc.free.argtypes = (ctypes.c_void_p,)
faults = []
def work():
    for i in range(5):
        before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
        p = libc.malloc(64 * 2**20)
        ctypes.memset(p, 1, 64 * 2**20)
        libc.free(p)
        if i:
            faults.append(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
t = threading.Thread(target=work); t.start(); t.join()
print(sum(faults))
"""


def _faults(env_extra):
    env = {**os.environ, **env_extra}
    out = subprocess.run([sys.executable, "-c", PROBE], env=env, capture_output=True, text=True, check=True)
    return int(out.stdout.split()[-1])


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="tunes glibc's malloc, Linux only")
def test_large_buffers_are_reused_instead_of_mapped_afresh():
    pages = 4 * 64 * 2**20 // os.sysconf("SC_PAGE_SIZE")  # what 4 fresh mappings would touch
    tuned, system = _faults({}), _faults({"XLING_MALLOC": "system"})
    assert system > pages // 2  # glibc's default maps each round afresh ...
    assert tuned < pages // 20  # ... the tuned heap keeps the pages
