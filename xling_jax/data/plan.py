"""What a run reads, resolved once from `config.data`: its directions, their training pairs and sampling rates.

`resolve` builds what is missing and checks language codes once; the pipeline, the objectives and the
evaluators then take the plan (or the part they need) instead of recomputing it from the config.
"""
import dataclasses
import functools

import numpy as np

from xling_jax.data import catalog, mixture


@dataclasses.dataclass(frozen=True)
class DataPlan:
    data_dir: str
    directions: tuple[mixture.Direction, ...]  # every training direction, back-translated ones included
    monolingual: tuple[tuple[str, str], ...]  # (path, lang) of data.monolingual's plain-text files
    train_pairs: int  # data.train_pairs: > 0 keeps a fixed subset of each pair's training records
    temperature: float
    bt_ratio: float
    distill_ratio: float

    @property
    def evaluated(self) -> list[mixture.Direction]:
        """The directions scored on dev/test (a back-translated one has no human source)."""
        return mixture.evaluated(self.directions)

    @property
    def qualified(self) -> bool:
        """Whether directions are named `DATASET:src-tgt` (several datasets mix) rather than `src-tgt`."""
        return mixture.is_qualified(self.directions)

    @property
    def languages(self) -> list[str]:
        return mixture.languages(self.directions)

    @functools.cached_property
    def train_counts(self) -> tuple[int, ...]:
        """Usable training pairs per direction (after data.train_pairs)."""
        return tuple(min(n, self.train_pairs or n) for n in mixture.pair_counts(list(self.directions), "train",
                                                                                  self.data_dir))

    @functools.cached_property
    def rates(self) -> np.ndarray:
        """Each direction's training sampling rate (data.temperature, data.bt_ratio, data.distill_ratio;
        mixture.sampling_rates)."""
        return mixture.sampling_rates(self.train_counts, [d.kind for d in self.directions], self.temperature,
                                      {"backtranslated": self.bt_ratio, "distilled": self.distill_ratio})


def resolve(data_config, data_dir: str | None = None) -> DataPlan:
    """The plan of `data_config`, with every locally buildable dataset built (into `data_dir`, default
    data.data_dir) and every language code checked."""
    data_dir = mixture.ensure_built(data_config, data_dir)
    directions = tuple(mixture.directions(data_config, data_dir))
    for ref in dict.fromkeys(d.distilled_from for d in directions if d.distilled):
        # Where a distilled direction is scored (mixture.evaluated); built already where it was distilled.
        catalog.ensure_built(ref, data_dir, options=mixture.source_options(data_config, ref))
    return DataPlan(data_dir=data_dir, directions=directions,
                    monolingual=tuple(mixture.monolingual_files(data_config)),
                    train_pairs=data_config.train_pairs, temperature=data_config.temperature,
                    bt_ratio=data_config.bt_ratio, distill_ratio=data_config.get("distill_ratio", 0.0))
