"""Prefetch: prepare the next batches (host pipeline + transfer to device) while the step runs.

The wrapper is checkpointable through `grain.checkpoint`: `get_state()` is the grain
iterator state right after the last batch handed to the caller, so batches waiting
in the queue are produced again after a restore, never skipped.
"""
import json
import queue
import threading
from collections.abc import Callable, Iterator


class Prefetch:
    def __init__(self, iterator, transform: Callable = lambda x: x, size: int = 2):
        self._it, self._transform, self._size = iterator, transform, size
        self._state = iterator.get_state()
        self._thread = None

    def start_prefetch(self) -> None:
        if self._thread is None:
            self._queue = queue.Queue(maxsize=self._size)
            self._stop = threading.Event()
            self._thread = threading.Thread(target=self._work, daemon=True)
            self._thread.start()

    def _work(self) -> None:
        while not self._stop.is_set():
            try:
                item = (self._transform(next(self._it)), self._it.get_state(), None)
            except BaseException as e:  # handed to the consumer, which re-raises it
                item = (None, None, e)
            while not self._stop.is_set():
                try:
                    self._queue.put(item, timeout=0.1)
                    break
                except queue.Full:
                    pass
            if item[2] is not None:
                return

    def _halt(self) -> None:
        if self._thread is not None:
            self._stop.set()
            self._thread.join()
            self._thread = None

    def __iter__(self) -> Iterator:
        return self

    def __next__(self):
        self.start_prefetch()
        batch, state, error = self._queue.get()
        if error is not None:
            self._thread = None
            raise error
        self._state = state
        return batch

    def get_state(self) -> bytes:
        return json.dumps(self._state).encode()

    def set_state(self, state: bytes) -> None:
        self._halt()
        self._state = json.loads(state)
        self._it.set_state(self._state)

    def close(self) -> None:
        self._halt()
