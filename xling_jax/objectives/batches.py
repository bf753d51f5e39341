"""Training batches: the mixture's pairs (data/pipeline.py) through the tasks (tasks.py), then packed or
length-bucketed into each process's rows."""
import grain

from xling_jax.data import bucket, pipeline
from xling_jax.data.plan import DataPlan
from xling_jax.data.tokenizer import Tokenizer
from xling_jax.objectives import tasks


def train_dataset(plan: DataPlan, task_mix: tasks.TaskMix, tokenizer: Tokenizer, *, data, objective, seed: int,
                  batch_size: int, num_languages: int = 0, process_index: int = 0,
                  process_count: int = 1) -> grain.IterDataset:
    """Endless batches of this process's rows of global batches of `batch_size` (train.batch_size):
    packed (data.pack) or length-bucketed. `data`, `objective`: config.data and config.objective
    (their batching and noising keys); `seed`: config.seed; `num_languages`: model.num_languages."""
    ds = pipeline.mixed_dataset(plan, seed)
    local_batch = batch_size // process_count
    ds = tasks.mix(task_mix, objective, tokenizer, plan, ds, seed, pipeline.bt_id(tokenizer, plan.directions,
                                                                                  data.bt_tag), num_languages)
    if data.pack:
        ds = ds[process_index::process_count]
    # Longer pairs are dropped rather than truncated: a cut target teaches the model to stop mid-sentence.
    ds = ds.filter(lambda ex: len(ex["inputs"]) <= data.max_len and len(ex["targets"]) <= data.max_len)
    it = ds.to_iter_dataset()
    if data.pack:
        it = grain.experimental.FirstFitPackIterDataset(
            it, length_struct={k: data.max_len for k in task_mix.features},
            num_packing_bins=data.packing_bins or local_batch,
            seed=seed, shuffle_bins=True)
        return it.batch(local_batch, drop_remainder=True)
    # Bucketing needs every process to agree on each batch's length, so every process forms
    # the same global batches and keeps its own contiguous block of rows.
    it = bucket.LengthBucketIterDataset(it, batch_size, data.max_len, window=data.bucket_window,
                                        step=data.bucket_step, seed=seed, features=task_mix.features)
    lo, hi = process_index * local_batch, (process_index + 1) * local_batch
    return it.map(lambda b: {k: v[lo:hi] for k, v in b.items()})
