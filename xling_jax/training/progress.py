"""Console progress: a rich bar on terminals, plain log lines elsewhere (CI, files)."""
import sys
import time

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, TextColumn, TimeRemainingColumn
from rich.progress import Progress as RichProgress


class Progress:
    def __init__(self, start: int, total: int, enabled: bool = True, header: str = ""):
        self.enabled, self.start, self.total = enabled, start, total
        self.interactive = sys.stdout.isatty()
        self.console = Console()
        self.header = header
        self._bar = None
        self._t0 = time.perf_counter()

    def __enter__(self):
        if not self.enabled:
            return self
        if self.header:
            self.console.print(self.header)
        if self.interactive:
            self._bar = RichProgress(
                TextColumn("step"), MofNCompleteColumn(), BarColumn(),
                TextColumn("loss {task.fields[loss]}  {task.fields[tps]} tok/s"), TextColumn("ETA"),
                TimeRemainingColumn(), console=self.console)
            self._bar.start()
            self._task = self._bar.add_task("train", total=self.total, completed=self.start, loss="-", tps="-")
        return self

    def update(self, step: int, row: dict) -> None:
        if not self.enabled:
            return
        if self._bar is not None:
            self._bar.update(self._task, completed=step, loss=f"{row['loss']:.3f}",
                             tps=f"{row['tokens_per_s']:,.0f}")
        else:
            rate = (step - self.start) / max(time.perf_counter() - self._t0, 1e-9)
            eta = (self.total - step) / rate if rate > 0 else float("nan")
            print(f"step {step}/{self.total}  loss {row['loss']:.3f}  {row['tokens_per_s']:,.0f} tok/s  "
                  f"lr {row['learning_rate']:.2e}  ETA {eta / 60:.1f} min", flush=True)

    def log(self, text: str) -> None:
        if self.enabled:
            self.console.print(text) if self._bar is not None else print(text, flush=True)

    def __exit__(self, *exc):
        if self._bar is not None:
            self._bar.stop()
        return False
