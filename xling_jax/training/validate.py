"""Config checks that run before anything is built or compiled: one clear error each."""
from xling_jax.data import mixture
from xling_jax.errors import UserError
from xling_jax.model.transformer import ACTIVATIONS, OUTPUT_PROJECTIONS, POSITIONS
from xling_jax.training.optimizer import SCHEDULES


def validate(config) -> None:
    m, t, d = config.model, config.train, config.data
    positive = {"train.steps": t.steps, "train.batch_size": t.batch_size, "model.num_layers": m.num_layers,
                "model.emb_dim": m.emb_dim, "model.num_heads": m.num_heads, "model.mlp_dim": m.mlp_dim,
                "data.max_len": d.max_len, "checkpoint_every": config.checkpoint_every,
                "log_every": config.log_every, "eval_every": config.eval_every,
                "keep_checkpoints": config.keep_checkpoints, "tokenizer.vocab_size": config.tokenizer.vocab_size}
    for key, value in positive.items():
        if value <= 0:
            raise UserError(f"{key} must be positive, got {value}")
    if m.emb_dim % m.num_heads:
        raise UserError(f"model.num_heads={m.num_heads} does not divide model.emb_dim={m.emb_dim}")
    for key, value, allowed in (("positions", m.positions, POSITIONS), ("activation", m.activation, ACTIVATIONS),
                                ("output_projection", m.output_projection, OUTPUT_PROJECTIONS)):
        if value not in allowed:
            raise UserError(f"model.{key} must be one of {', '.join(map(repr, allowed))}, got {value!r}")
    if m.positions == "learned" and d.max_len > m.max_len:
        raise UserError(f"data.max_len={d.max_len} exceeds the learned position table model.max_len={m.max_len}")
    from xling_jax.objectives import tasks
    tasks.parse(config)
    if t.schedule not in SCHEDULES:
        raise UserError(f"unknown train.schedule {t.schedule!r}; choose one of {', '.join(SCHEDULES)}")
    if not 0.0 <= t.label_smoothing < 1.0:
        raise UserError(f"train.label_smoothing must be in [0, 1), got {t.label_smoothing}")
    if not 0.0 <= m.dropout_rate < 1.0:
        raise UserError(f"model.dropout_rate must be in [0, 1), got {m.dropout_rate}")
    if not d.mixture and not d.directions:
        raise UserError("data.directions is empty; name at least one, e.g. ('en-es',)")
    if d.prefetch < 1:
        raise UserError(f"data.prefetch must be at least 1 (batches prepared ahead), got {d.prefetch}")
    if d.temperature <= 0:
        raise UserError(f"data.temperature must be > 0, got {d.temperature}")
    if not 0.0 <= d.bt_ratio < 1.0:
        raise UserError(f"data.bt_ratio must be in [0, 1) (the share of back-translated pairs; 0: by size), "
                        f"got {d.bt_ratio}")
    if not d.pack and (d.bucket_step <= 0 or d.bucket_window <= 0):
        raise UserError("data.bucket_step and data.bucket_window must be positive")
    # Dataset names only: language codes are checked once the datasets are built.
    mixture.dataset_refs(d)
