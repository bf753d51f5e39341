"""Counts what a dataset build skipped, with a few file:line samples per reason.

Builders never crash on dirty input: they call `skip(reason, where)` for each
dropped item and print `summary()` at the end of the build.
"""
import collections


class SkipReport:
    def __init__(self, samples_per_reason: int = 3):
        self._samples_per_reason = samples_per_reason
        self.counts: collections.Counter[str] = collections.Counter()
        self.samples: dict[str, list[str]] = collections.defaultdict(list)

    def skip(self, reason: str, where: str = "") -> None:
        """Records one skipped item; `where` is e.g. 'path/to/file.tsv:17'."""
        self.counts[reason] += 1
        if where and len(self.samples[reason]) < self._samples_per_reason:
            self.samples[reason].append(where)

    @property
    def total(self) -> int:
        return sum(self.counts.values())

    def summary(self, title: str = "skipped") -> str:
        if not self.counts:
            return f"{title}: nothing"
        lines = [f"{title}: {self.total} in all"]
        for reason, n in self.counts.most_common():
            where = ", ".join(self.samples.get(reason, []))
            lines.append(f"  {n:>8,}  {reason}" + (f"  (e.g. {where})" if where else ""))
        return "\n".join(lines)

    def to_dict(self) -> dict:
        return {r: {"count": n, "samples": self.samples.get(r, [])} for r, n in self.counts.items()}
