"""Training batches: the mixture's pairs (data/pipeline.py) through the tasks (tasks.py), then packed or
length-bucketed into each process's rows."""
import grain

from xling_jax.data import bucket, pipeline
from xling_jax.data.tokenizer import Tokenizer
from xling_jax.objectives import tasks


def train_dataset(config, tokenizer: Tokenizer, data_dir: str | None, process_index: int = 0,
                  process_count: int = 1) -> grain.IterDataset:
    """Endless batches of this process's rows: packed (data.pack) or length-bucketed."""
    dc = config.data
    ds, dirs, _ = pipeline.mixed_dataset(config, "train", data_dir)
    local_batch = config.train.batch_size // process_count
    ds = tasks.mix(config, tokenizer, data_dir, ds, pipeline.bt_id(config, tokenizer, dirs))
    if dc.pack:
        ds = ds[process_index::process_count]
    # Longer pairs are dropped rather than truncated: a cut target teaches the model to stop mid-sentence.
    ds = ds.filter(lambda ex: len(ex["inputs"]) <= dc.max_len and len(ex["targets"]) <= dc.max_len)
    it = ds.to_iter_dataset()
    if dc.pack:
        it = grain.experimental.FirstFitPackIterDataset(
            it, length_struct={k: dc.max_len for k in tasks.features(config)},
            num_packing_bins=dc.packing_bins or local_batch,
            seed=config.seed, shuffle_bins=True)
        return it.batch(local_batch, drop_remainder=True)
    # Bucketing needs every process to agree on each batch's length, so every process forms
    # the same global batches and keeps its own contiguous block of rows.
    it = bucket.LengthBucketIterDataset(it, config.train.batch_size, dc.max_len, window=dc.bucket_window,
                                        step=dc.bucket_step, seed=config.seed,
                                        features=tasks.features(config))
    lo, hi = process_index * local_batch, (process_index + 1) * local_batch
    return it.map(lambda b: {k: v[lo:hi] for k, v in b.items()})
