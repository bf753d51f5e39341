"""Config checks that run before anything is built or compiled: one clear error each."""
import re

from xling_jax.configs.loading import check_schema
from xling_jax.data import augment, mixture
from xling_jax.errors import UserError
from xling_jax.model import MODELS, lstm
from xling_jax.model.transformer import (
    ACTIVATIONS,
    NORMS,
    OUTPUT_PROJECTIONS,
    PARAM_DTYPES,
    POSITIONS,
    REMAT,
    TIED_LOGITS_SCALES,
)
from xling_jax.objectives import tasks
from xling_jax.training.numerics import nan_steps_array
from xling_jax.training.optimizer import SCHEDULES


def validate(config, retrieval: bool = False) -> None:
    """The shared keys' checks; `retrieval`: the caller is the retrieval run (config.tasks =
    ("retrieval:1",), whose own keys retrieval/train.py checks), which no other caller accepts."""
    check_schema(config)  # unknown keys and wrong types first: the checks below read the keys
    m, t, d = config.model, config.train, config.data
    positive = {"train.steps": t.steps, "train.batch_size": t.batch_size, "train.grad_accum_steps": t.grad_accum_steps,
                "model.num_layers": m.num_layers,
                "model.emb_dim": m.emb_dim,
                "data.max_len": d.max_len, "checkpoint_every": config.checkpoint_every,
                "log_every": config.log_every, "eval_every": config.eval_every,
                "keep_checkpoints": config.keep_checkpoints, "tokenizer.vocab_size": config.tokenizer.vocab_size}
    for key, value in positive.items():
        if value <= 0:
            raise UserError(f"{key} must be positive, got {value}")
    for name, ev in config.evals.items():
        if ev.every < 0:
            raise UserError(f"evals.{name}.every must be 0 (every eval_every steps) or positive, got {ev.every}")
    if m.name not in MODELS:
        raise UserError(f"unknown model.name {m.name!r}; choose one of {', '.join(MODELS)}")
    if m.name == "lstm":
        _check_lstm(config)
    else:  # the Transformer's own keys
        _check_transformer(config)
    if tasks.is_retrieval(config.tasks) and not retrieval:  # mixed with other tasks: is_retrieval's error
        raise UserError("config.tasks=('retrieval:1',) is the retrieval task: `xling train` runs it "
                        "(xling_jax.retrieval.train.retrieval_and_evaluate from Python)")
    if retrieval and not tasks.is_retrieval(config.tasks):
        raise UserError(f"retrieval_and_evaluate trains the retrieval task; set config.tasks=('retrieval:1',) "
                        f"(got {tuple(config.tasks)})")
    task_names = [] if retrieval else [name for name, _ in tasks.parse(config.tasks)]
    if "t5" in task_names and config.objective.t5_sentinels > config.tokenizer.sentinels:
        raise UserError(f"objective.t5_sentinels={config.objective.t5_sentinels} but the vocabulary has "
                        f"tokenizer.sentinels={config.tokenizer.sentinels}")
    if t.schedule not in SCHEDULES:
        raise UserError(f"unknown train.schedule {t.schedule!r}; choose one of {', '.join(SCHEDULES)}")
    _check_prune(t)
    if t.max_nonfinite < 0 or t.spike_factor < 0:
        raise UserError("train.max_nonfinite and train.spike_factor must be >= 0 (0: off)")
    nan_steps_array(config.debug.nan_steps)
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
    if not 0.0 <= d.distill_ratio < 1.0 or d.bt_ratio + d.distill_ratio >= 1.0:
        raise UserError(f"data.distill_ratio must be in [0, 1) (the share of distilled pairs; 0: by size) and "
                        f"leave real pairs a share (bt_ratio + distill_ratio < 1), got {d.distill_ratio} "
                        f"with bt_ratio {d.bt_ratio}")
    if not d.pack and (d.bucket_step <= 0 or d.bucket_window <= 0):
        raise UserError("data.bucket_step and data.bucket_window must be positive")
    _check_augment(config.tokenizer, d.noise)
    # Dataset names only: language codes are checked once the datasets are built.
    mixture.dataset_refs(d)


def _check_augment(tok, noise) -> None:
    """tokenizer.sampling_* and data.noise.* (data/augment.py)."""
    if tok.sampling_alpha < 0:
        raise UserError(f"tokenizer.sampling_alpha must be >= 0 (0: no subword sampling), got {tok.sampling_alpha}")
    if tok.sampling_alpha > 0 and tok.nbest < 2:
        raise UserError(f"tokenizer.nbest must be >= 2 (the segmentations sampled from), got {tok.nbest}")
    if tok.sampling_sides not in augment.SIDES:
        raise UserError(f"tokenizer.sampling_sides must be one of {', '.join(map(repr, augment.SIDES))}, "
                        f"got {tok.sampling_sides!r}")
    if tok.sampling_alpha > 0 and tok.model_type != "unigram":
        raise UserError(f"tokenizer.sampling_alpha > 0 samples segmentations of a unigram sentencepiece model, not "
                        f"a {tok.model_type} one: set tokenizer.model_type='unigram' or tokenizer.sampling_alpha=0")
    for key in ("word_dropout", "blank"):
        if not 0.0 <= noise[key] < 1.0:
            raise UserError(f"data.noise.{key} must be in [0, 1) (a probability per word), got {noise[key]}")
    if noise.word_dropout + noise.blank >= 1.0:
        raise UserError(f"data.noise.word_dropout + data.noise.blank must be below 1 (each word is dropped, blanked "
                        f"or kept), got {noise.word_dropout} + {noise.blank}")
    if noise.shuffle_k < 0:
        raise UserError(f"data.noise.shuffle_k must be >= 0 (the furthest a word moves; 0: no shuffle), "
                        f"got {noise.shuffle_k}")


def _check_prune(t) -> None:
    pr = t.prune
    if not 0.0 <= pr.sparsity < 1.0:
        raise UserError(f"train.prune.sparsity must be in [0, 1) (the share of weights zeroed), got {pr.sparsity}")
    if not pr.sparsity:
        return
    if not 0 <= pr.start_step < pr.end_step or pr.every < 1:
        raise UserError(f"train.prune needs 0 <= start_step < end_step and every >= 1; got start_step="
                        f"{pr.start_step}, end_step={pr.end_step}, every={pr.every}")
    for pattern in pr.params:
        try:
            re.compile(pattern)
        except re.error as e:
            raise UserError(f"train.prune.params: bad regex {pattern!r}: {e}") from None


def _check_transformer(config) -> None:
    m, d = config.model, config.data
    for key in ("num_heads", "mlp_dim"):
        if m[key] <= 0:
            raise UserError(f"model.{key} must be positive, got {m[key]}")
    if m.remat not in REMAT:
        raise UserError(f"unknown model.remat {m.remat!r}; choose one of {', '.join(REMAT)}")
    for key in ("num_heads", "num_decoder_heads"):
        if m[key] and m.emb_dim % m[key] and not m.head_dim:
            raise UserError(f"model.{key}={m[key]} does not divide model.emb_dim={m.emb_dim} (or set model.head_dim)")
    if m.head_dim < 0 or (m.positions == "relative" and (m.relative_buckets < 4 or m.relative_max_distance < 2)):
        raise UserError("model.head_dim must be >= 0, model.relative_buckets >= 4 and model.relative_max_distance >= 2")
    if m.num_decoder_heads < 0 or m.decoder_mlp_dim < 0 or m.position_offset < 0:
        raise UserError("model.num_decoder_heads, model.decoder_mlp_dim and model.position_offset must be >= 0")
    if m.activation_dropout_rate >= 1.0:
        raise UserError(f"model.activation_dropout_rate must be below 1 (-1: dropout_rate), got {m.activation_dropout_rate}")
    for key, value, allowed in (("positions", m.positions, POSITIONS), ("activation", m.activation, ACTIVATIONS),
                                ("output_projection", m.output_projection, OUTPUT_PROJECTIONS),
                                ("tied_logits_scale", m.tied_logits_scale, TIED_LOGITS_SCALES),
                                ("param_dtype", m.param_dtype, PARAM_DTYPES), ("norm", m.norm, NORMS)):
        if value not in allowed:
            raise UserError(f"model.{key} must be one of {', '.join(map(repr, allowed))}, got {value!r}")
    if m.positions == "learned" and d.max_len + m.position_offset > m.max_len:
        raise UserError(f"data.max_len={d.max_len} (+ model.position_offset={m.position_offset}) exceeds the "
                        f"learned position table model.max_len={m.max_len}")


def _check_lstm(config) -> None:
    """The LSTM's keys, and the features it lacks (the XLM encoder-only tasks need a Transformer)."""
    lstm.check_config(config.model)
    encoder_tasks = [name for name, _ in tasks.parse(config.tasks) if name in tasks.ENCODER]
    if encoder_tasks:
        raise UserError(f"config.tasks has the encoder-only task(s) {', '.join(encoder_tasks)}, which need an "
                        "LM head on a Transformer encoder: drop them or set model.name='transformer'")
