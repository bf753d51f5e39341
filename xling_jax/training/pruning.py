"""Gradual magnitude pruning (Zhu & Gupta 2017) as an optax transform: `train.prune.*`.

Each selected param (`train.prune.params`: regexes on param paths such as `encoder_0/mlp/Dense_0/kernel`)
gets a mask. From optimizer update `start_step` to `end_step`, every `every` updates (and at `end_step`),
the masks are recomputed to zero the smallest-magnitude share s(t) of each param (layer by layer):
    s(t) = s_f * (1 - (1 - (t - start) / (end - start))^3)
which prunes fast while many weights are redundant and slowly near the final sparsity s_f; the masks
stay fixed after `end_step`. The masks live in the optimizer state, so checkpoints keep them and a
resumed run prunes exactly as an uninterrupted one. The train step (steps.guarded_update) multiplies
the new params by them (`masked`): a pruned weight stays exactly zero, so exported weights are sparse.
Ties in magnitude are broken by position (a stable sort), so each mask prunes exactly floor(s * size).
"""
import re
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import optax

from xling_jax.errors import UserError


class PruneState(NamedTuple):
    count: jax.Array  # optimizer updates made (a skipped non-finite step makes none)
    masks: Any  # like params: a bool array per pruned param (True: kept), None for the others


def sparsity_at(t, final: float, start: int, end: int):
    """The scheduled sparsity after `t` updates: 0 before `start`, `final` from `end` on, cubic between."""
    progress = jnp.clip((jnp.asarray(t, jnp.float32) - start) / max(end - start, 1), 0.0, 1.0)
    return final * (1.0 - (1.0 - progress) ** 3)


def path_string(path) -> str:
    return "/".join(str(getattr(k, "key", k)) for k in path)


def selected(params, patterns) -> Any:
    """A tree like params: True where a param's path matches one of `patterns`."""
    return jax.tree_util.tree_map_with_path(lambda path, _: any(re.fullmatch(p, path_string(path)) for p in patterns),
                                            params)


def magnitude_mask(w, sparsity):
    """True for all but the floor(sparsity * size) smallest |w| (ties: the earlier position is pruned)."""
    flat = jnp.abs(w).ravel()
    n_pruned = jnp.floor(sparsity * flat.size).astype(jnp.int32)
    rank = jnp.zeros(flat.size, jnp.int32).at[jnp.argsort(flat, stable=True)].set(jnp.arange(flat.size))
    return (rank >= n_pruned).reshape(w.shape)


def prune(final: float, start: int, end: int, every: int, patterns) -> optax.GradientTransformation:
    """The transform (last in the optimizer's chain): keeps the masks and masks the updates."""
    def init(params):
        chosen = selected(params, patterns)
        if not any(jax.tree.leaves(chosen)):
            raise UserError(f"train.prune.params {tuple(patterns)} match no param; paths look like "
                            f"{path_string(jax.tree_util.tree_flatten_with_path(params)[0][0][0])}")
        masks = jax.tree.map(lambda p, c: jnp.ones(p.shape, bool) if c else None, params, chosen)
        return PruneState(jnp.zeros([], jnp.int32), masks)

    def update(updates, state, params=None):
        t = state.count
        due = (t >= start) & (t <= end) & (((t - start) % every == 0) | (t == end))
        s = sparsity_at(t, final, start, end)
        recomputed = lambda: jax.tree.map(lambda m, p: None if m is None else magnitude_mask(p, s), state.masks,
                                          params, is_leaf=lambda x: x is None)
        masks = jax.lax.cond(due, recomputed, lambda: state.masks)
        updates = _over_masks(lambda m, u: jnp.where(m, u, 0), masks, updates)
        return updates, PruneState(t + 1, masks)

    return optax.GradientTransformation(init, update)


def _state(opt_state) -> PruneState | None:
    if isinstance(opt_state, PruneState):
        return opt_state
    if isinstance(opt_state, (tuple, list)):
        for part in opt_state:
            found = _state(part)
            if found is not None:
                return found
    return None


def masked(params, opt_state):
    """`params` with the pruned weights zeroed (unchanged without pruning)."""
    state = _state(opt_state)
    if state is None:
        return params
    return _over_masks(lambda m, p: jnp.where(m, p, 0).astype(p.dtype), state.masks, params)


def _over_masks(fn, masks, tree):
    """`tree` with fn(mask, leaf) where a param has a mask (the leaf unchanged where its mask is None)."""
    return jax.tree.map(lambda m, x: x if m is None else fn(m, x), masks, tree, is_leaf=lambda x: x is None)


def sparsity(params, patterns) -> float:
    """The share of exact zeros in the params that `patterns` select (what pruning reached)."""
    chosen = [p for p, c in zip(jax.tree.leaves(params), jax.tree.leaves(selected(params, patterns))) if c]
    return float(sum(int((p == 0).sum()) for p in chosen) / max(sum(p.size for p in chosen), 1))
