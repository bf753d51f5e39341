"""Task mixtures: `config.tasks` entries `NAME:RATE` mix translation with denoising objectives.

Sequence-to-sequence tasks share the translation pipeline (examples are mixed per example, then
packed together); each example carries its task index so that the train step can report the
loss of each task (`nll/NAME` in metrics.jsonl):
- `translation`: the pairs of the data mixture (`data.*`), augmented per example where configured
  (subword sampling, tokenizer.sampling_*; source noise, data.noise.*; see data/augment.py).
- `mbart`: monolingual text noised by sentence permutation and span masking (objective.mbart_*);
  the source starts with the language's tag, the target is the original text.
- `t5`: T5 span corruption (objective.t5_*), sentinels from the vocabulary (tokenizer.sentinels).
Encoder-only tasks (XLM) train the encoder with its tied LM head on the same packed rows:
- `mlm`: masked LM on monolingual text (objective.mlm_*); `clm`: causal LM on monolingual text;
- `tlm`: masked LM on a translation pair read as one stream (positions restart per language).
Their text is framed `<2xx> text </s>` (the tag is never masked); they have no decoder targets.
When one is in the mixture, every example also carries `src_task` (its task index per source
token: CLM tokens attend causally), `lm_targets` (0 where no LM loss), `lm_positions` and, with
model.num_languages, `languages` (the language index per source token, -1 for translation sources).
Monolingual text is every language side of the run's directions (train split), each record once,
plus the plain-text files of `data.monolingual`.
"""
import dataclasses

import grain
import numpy as np

from xling_jax.data import augment, pipeline
from xling_jax.data import tokenizer as tokenizer_lib
from xling_jax.data.plan import DataPlan
from xling_jax.errors import UserError
from xling_jax.objectives import denoising, online_bt, xlm

SEQ2SEQ = ("translation", "mbart", "t5")
ENCODER = ("mlm", "tlm", "clm")
TASKS = SEQ2SEQ + ENCODER
# The contrastive dual-encoder task (xling_jax/retrieval/train.py): a run of its own that `xling train`
# starts for config.tasks = ("retrieval:1",); it mixes with no other task.
RETRIEVAL = "retrieval"


def parse(entries) -> list[tuple[str, float]]:
    """[(name, rate)] of config.tasks `entries` ('NAME:RATE', ...), rates normalised to sum to 1."""
    out = []
    for entry in entries:
        name, sep, rate = entry.partition(":")
        try:
            value = float(rate) if sep else 1.0
        except ValueError:
            value = -1.0
        if name == RETRIEVAL and is_retrieval(entries):  # mixed with other tasks: is_retrieval's error
            raise UserError(f"config.tasks={tuple(entries)} is the retrieval task, a run of its own: `xling train` "
                            "starts it (xling_jax.retrieval.train.retrieval_and_evaluate from Python)")
        if name not in TASKS:
            raise UserError(f"unknown task {name!r} in config.tasks; choose from {', '.join(TASKS)}")
        if value <= 0:
            raise UserError(f"bad rate in config.tasks entry {entry!r}: write NAME:RATE with RATE > 0")
        out.append((name, value))
    if not out:
        raise UserError("config.tasks is empty; e.g. ('translation:1',) or ('mbart:0.5', 'translation:0.5')")
    if len({n for n, _ in out}) != len(out):
        raise UserError(f"config.tasks names a task twice: {tuple(entries)}")
    total = sum(r for _, r in out)
    return [(n, r / total) for n, r in out]


def is_retrieval(entries) -> bool:
    """Whether config.tasks `entries` name the retrieval task; with another task too, a UserError."""
    names = [entry.partition(":")[0] for entry in entries]
    if RETRIEVAL in names and len(names) > 1:
        raise UserError(f"config.tasks={tuple(entries)} mixes {RETRIEVAL!r} with other tasks; a retrieval run "
                        f"trains alone: config.tasks=('{RETRIEVAL}:1',)")
    return RETRIEVAL in names


def has_encoder_tasks(task_names) -> bool:
    return any(n in ENCODER for n in task_names)


@dataclasses.dataclass(frozen=True)
class TaskMix:
    """config.tasks resolved once: the tasks and their rates, and what their examples carry."""
    tasks: tuple[tuple[str, float], ...]  # (name, rate), rates summing to 1
    online_bt: bool = False  # online back-translation adds its rows (and its metrics) to the step's
    with_languages: bool = False  # model.num_languages > 0: encoder tasks carry a `languages` feature
    augmentation: augment.Options = augment.Options()  # of the translation pairs (never the other tasks' text)

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(n for n, _ in self.tasks)

    @property
    def metric_names(self) -> tuple[str, ...]:
        """The task names that batch feature `task` indexes: config.tasks, then online back-translation."""
        return self.names + ((online_bt.NAME,) if self.online_bt else ())

    @property
    def translation_only(self) -> bool:
        return self.metric_names == ("translation",)

    @property
    def features(self) -> tuple[str, ...]:
        """The token features of a training example (each packed or padded to data.max_len)."""
        if self.translation_only:
            return ("inputs", "targets")
        out = ("inputs", "targets", "task")
        if has_encoder_tasks(self.names):
            out += ("src_task", "lm_targets", "lm_positions") + (("languages",) if self.with_languages else ())
        return out


def resolve(config) -> TaskMix:
    """The TaskMix of config.tasks (with online_bt.rows, model.num_languages and the augmentation keys)."""
    return TaskMix(tuple(parse(config.tasks)), online_bt=online_bt.enabled(config.online_bt),
                   with_languages=bool(config.model.num_languages), augmentation=augment_options(config))


def augment_options(config) -> augment.Options:
    """The augmentation of the translation pairs: tokenizer.sampling_alpha/nbest/sampling_sides, data.noise.*."""
    t, n = config.tokenizer, config.data.noise
    return augment.Options(sampling_alpha=t.sampling_alpha, nbest=t.nbest, sampling_sides=t.sampling_sides,
                           word_dropout=n.word_dropout, blank=n.blank, shuffle_k=n.shuffle_k,
                           only_backtranslated=n.only_backtranslated)


def translation_pairs(pairs: grain.MapDataset, tokenizer, options: augment.Options, seed: int,
                      bt_id: int | None = None) -> grain.MapDataset:
    """The encoded pairs of the translation task, augmented where `options` says so (the vocabulary is
    checked for it here, before anything is compiled)."""
    if not options.on:  # the stream as it was before augmentation existed, bit for bit
        return pairs.map(lambda ex: pipeline.encode_example(tokenizer, ex, bt_id))
    mask_id = pipeline.augment_mask_id(tokenizer, options)
    # Each record's rng derives from the seed and its index: fixed by config.seed, resumed exactly.
    return pairs.random_map(lambda ex, rng: pipeline.encode_augmented(tokenizer, ex, rng, options, bt_id, mask_id),
                            seed=seed + 5000)


def _sentence_ends(tokenizer, ids: list[int]) -> np.ndarray:
    return np.array([tokenizer.sp.id_to_piece(i).endswith((".", "!", "?", "。")) for i in ids], bool)


def denoising_example(name: str, ex: dict, rng: np.random.Generator, tokenizer, objective) -> dict:
    """A monolingual text as a (noised source, original target) pair framed like translation."""
    ids = tokenizer.encode(ex["text"])
    if name == "mbart":
        out = denoising.mbart(ids, rng, mask_id=tokenizer.symbol_id(tokenizer_lib.MASK),
                              sentence_end=_sentence_ends(tokenizer, ids), ratio=objective.mbart_ratio,
                              poisson_lambda=objective.mbart_lambda, permute_sentences=objective.mbart_permute)
    else:
        sentinels = [tokenizer.symbol_id(tokenizer_lib.sentinel(i)) for i in range(objective.t5_sentinels)]
        out = denoising.t5_span_corruption(ids, rng, sentinel_ids=sentinels, noise_density=objective.t5_density,
                                           mean_span=objective.t5_mean_span)
    inputs = tokenizer.source_prefix(ex["lang"]) + out["inputs"].tolist() + [tokenizer.eos_id]
    targets = out["targets"].tolist() + [tokenizer.eos_id]
    return {"inputs": np.asarray(inputs, np.int32), "targets": np.asarray(targets, np.int32)}


def lm_example(name: str, ex: dict, rng: np.random.Generator, tokenizer, langs: list[str], mask_options: dict
               ) -> dict:
    """An encoder-only example: `inputs` for the encoder, `lm_targets` (0: no loss) and
    `lm_positions`, `languages` (indices into `langs`) per source token; no decoder targets.
    `mask_options`: the keyword arguments of `xlm.mlm` (see `mlm_options`)."""
    if name == "tlm":
        src = tokenizer.source_prefix(ex["src_lang"]) + tokenizer.encode(ex["src"]) + [tokenizer.eos_id]
        tgt = tokenizer.source_prefix(ex["tgt_lang"]) + tokenizer.encode(ex["tgt"]) + [tokenizer.eos_id]
        out = xlm.tlm(src, tgt, langs.index(ex["src_lang"]), langs.index(ex["tgt_lang"]), rng,
                      **mask_options)
    else:
        ids = tokenizer.source_prefix(ex["lang"]) + tokenizer.encode(ex["text"]) + [tokenizer.eos_id]
        out = xlm.clm(ids) if name == "clm" else xlm.mlm(ids, rng, **mask_options)
        out["positions"] = np.arange(len(out["inputs"]), dtype=np.int32)
        out["languages"] = np.full(len(out["inputs"]), langs.index(ex["lang"]), np.int32)
    lm_targets = np.where(out["weights"] > 0, out["targets"], 0).astype(np.int32)
    return {"inputs": out["inputs"].astype(np.int32), "targets": np.zeros(0, np.int32), "lm_targets": lm_targets,
            "lm_positions": out["positions"].astype(np.int32), "languages": out["languages"]}


def mlm_options(tokenizer, objective) -> dict:
    special = [tokenizer.eos_id, tokenizer.pad_id] + [tokenizer.tag_id(l) for l in tokenizer.languages()]
    return dict(mask_id=tokenizer.symbol_id(tokenizer_lib.MASK), vocab_size=tokenizer.vocab_size,
                special_ids=special, rate=objective.mlm_rate, mask_prob=objective.mlm_mask_prob,
                random_prob=objective.mlm_random_prob)


def _with_lm_features(ex: dict, t: int, with_languages: bool) -> dict:
    """A sequence-to-sequence example padded out with the encoder-task features (no LM loss)."""
    n = len(ex["inputs"])
    out = dict(ex, src_task=np.full(n, t, np.int32))
    out.setdefault("lm_targets", np.zeros(n, np.int32))
    out.setdefault("lm_positions", np.arange(n, dtype=np.int32))
    if with_languages:
        out.setdefault("languages", np.full(n, -1, np.int32))
    else:
        out.pop("languages", None)
    return out


def check(mix: TaskMix, tokenizer, monolingual=(), num_languages: int = 0, t5_sentinels: int = 0) -> None:
    """Fails early (before compiling) if a task needs symbols the vocabulary lacks; `monolingual`: the
    data plan's [(path, lang)] files, `num_languages` and `t5_sentinels`: model.* and objective.* keys."""
    tasks = mix.names
    for _, lang in monolingual:
        try:
            tokenizer.source_prefix(lang)
        except KeyError:
            raise UserError(f"data.monolingual has {lang!r} text but the vocabulary has no {lang!r} tag: "
                            "train a new vocabulary (a new workdir) with this file in the config") from None
    if {"mbart", "mlm", "tlm"} & set(tasks):
        tokenizer.symbol_id(tokenizer_lib.MASK)
    n_langs = len(tokenizer.languages())
    if has_encoder_tasks(tasks) and num_languages and num_languages < n_langs:
        raise UserError(f"model.num_languages={num_languages} but the vocabulary has {n_langs} "
                        f"languages ({', '.join(tokenizer.languages())}): set it to {n_langs} (or 0: none)")
    if "t5" in tasks:
        for i in range(t5_sentinels):
            tokenizer.symbol_id(tokenizer_lib.sentinel(i))


def mix(task_mix: TaskMix, objective, tokenizer, plan: DataPlan, pairs: grain.MapDataset, seed: int,
        bt_id: int | None = None, num_languages: int = 0) -> grain.MapDataset:
    """The per-example mixture of the tasks; `pairs` is the data mixture's (raw text) pair stream,
    `bt_id` the `<BT>` tag of back-translated sources (pipeline.bt_id), `objective` config.objective,
    `seed` config.seed and `num_languages` model.num_languages.

    With translation alone this is the encoded pair stream (no task feature)."""
    tasks = task_mix.tasks
    if task_mix.translation_only:
        return translation_pairs(pairs, tokenizer, task_mix.augmentation, seed, bt_id)
    check(task_mix, tokenizer, plan.monolingual, num_languages, objective.t5_sentinels)
    with_lm = has_encoder_tasks(task_mix.names)
    if with_lm:  # looked up once: the vocabulary scan is too slow per example
        langs, options = tokenizer.languages(), mlm_options(tokenizer, objective)
    parts = []
    for t, (name, _) in enumerate(tasks):
        if name == "translation":
            ds = translation_pairs(pairs, tokenizer, task_mix.augmentation, seed, bt_id)
        elif name == "tlm":  # its own shuffle of the pairs, not the translation task's order
            ds = pipeline.mixed_dataset(plan, seed + 3000)
        else:
            mono = pipeline.MonolingualSource(plan.directions, "train", plan.data_dir, plan.monolingual,
                                              train_pairs=plan.train_pairs)
            if not len(mono):
                raise UserError(f"task {name!r} found no monolingual training text")
            ds = grain.MapDataset.source(mono).seed(seed + 1000 + t).shuffle().repeat()
        if name in ENCODER:
            ds = ds.random_map(lambda ex, rng, name=name: lm_example(name, ex, rng, tokenizer, langs, options),
                               seed=seed + 2000 + t)
        elif name != "translation":
            ds = ds.random_map(lambda ex, rng, name=name: denoising_example(name, ex, rng, tokenizer, objective),
                               seed=seed + 2000 + t)
        ds = ds.map(lambda ex, t=t: dict(ex, task=np.full(len(ex["targets"]), t, np.int32)))
        if with_lm:
            ds = ds.map(lambda ex, t=t: _with_lm_features(ex, t, task_mix.with_languages))
        parts.append(ds)
    return grain.MapDataset.mix(parts, [r for _, r in tasks])
