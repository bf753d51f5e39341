"""Tests' shorthands: a config's data plan, pair mixture, task mixture and training batches."""
from xling_jax.data import pipeline
from xling_jax.data import plan as data_plan
from xling_jax.objectives import tasks
from xling_jax.training.train import training_batches


def mixed(c, data_dir, seed=None):
    """(the endless training pair mixture, its directions, their sampling rates) of config `c`."""
    plan = data_plan.resolve(c.data, data_dir)
    return pipeline.mixed_dataset(plan, c.seed if seed is None else seed), plan.directions, plan.rates


def mix(c, tok, data_dir, pairs, bt_id=None):
    """config `c`'s task mixture over the pair stream `pairs`."""
    return tasks.mix(tasks.resolve(c), c.objective, tok, data_plan.resolve(c.data, data_dir), pairs, c.seed, bt_id,
                     c.model.num_languages)


def batches(c, tok, data_dir, process_index=0, process_count=1):
    """This process's training batches of config `c`."""
    return training_batches(c, data_plan.resolve(c.data, data_dir), tasks.resolve(c), tok, process_index,
                            process_count)
