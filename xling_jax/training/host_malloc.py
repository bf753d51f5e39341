"""Keeps large host buffers in the C heap between steps (glibc only), for training loops.

On CPU, XLA allocates each step's temporaries and outputs afresh. glibc serves every request
above 32 MiB, and every large request from a thread other than the main one, with a new
mmap and returns it with munmap, so every step touches hundreds of MB of fresh pages: about
270,000 page faults and 18% of the CPU time of a cpu-ref train step (bench/train.py) went to
the kernel. Serving all threads from the main heap, never by mmap, and never trimming that
heap reuses the same pages each step. Measured side by side on cpu-ref: step 1.25 s -> 1.07 s.

The costs, why only the training loops (train_and_evaluate, classify, bench train) call it:
the process keeps its peak heap (about 0.9 GB more on cpu-ref; the next step needs it again),
and one arena serialises the allocations of all threads. Multi-threaded code that allocates
many small objects slows down. On the default Bible run (300 steps, side by side): training
steps +8% tokens/s, but training the sentencepiece model took 13 s instead of 7.5 s and the
dev evaluation with beam search 7% longer; on a real run the steps dominate. `xling eval`
and `xling translate` leave glibc alone. Threads that already had an arena keep it, so the
loops call this first of all (tuning after the tokenizer was trained lost the +8%).
XLING_MALLOC=system leaves glibc's defaults everywhere.
"""
import ctypes
import ctypes.util
import os
import sys

# mallopt parameters from glibc's <malloc.h>.
M_TRIM_THRESHOLD, M_MMAP_MAX, M_ARENA_MAX = -1, -4, -8


def tune() -> bool:
    """Applies the settings above; False where they do not apply (not glibc, or opted out)."""
    if os.environ.get("XLING_MALLOC", "").lower() == "system" or not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):  # musl and other libcs have no mallopt
        return False
    mallopt.argtypes, mallopt.restype = (ctypes.c_int, ctypes.c_int), ctypes.c_int
    # -1 becomes SIZE_MAX inside glibc: never give the top of the heap back.
    return all(mallopt(p, v) == 1 for p, v in ((M_ARENA_MAX, 1), (M_MMAP_MAX, 0), (M_TRIM_THRESHOLD, -1)))
