"""grain input pipeline: directions, temperature mixing, tokenization, evaluation batches (training batches: objectives/batches.py).

A batch is a dict of int32 arrays, each BxL: `inputs`, `targets` and their
`_segment_ids` (0 = padding) and `_positions`. Inputs start with the target
language tag (`tokenizer.source_affixes`; none for a bilingual Marian model, the source
language code for NLLB), then `<BT>` for a back-translated pair (data.bt_tag); both sides end
with the tokenizer's EOS (mBART-25: followed by the language code).
"""
import itertools
import zlib
from collections.abc import Sequence

import grain
import numpy as np

from xling_jax.data import augment, bucket, catalog, mixture
from xling_jax.data import tokenizer as tokenizer_lib
from xling_jax.data.plan import DataPlan
from xling_jax.data.sequences import task_text
from xling_jax.data.tokenizer import Tokenizer

FEATURES = ("inputs", "targets")


def pair_index(dataset, direction: mixture.Direction, split: str, train_pairs: int = 0) -> np.ndarray:
    """Record indices of a direction's pairs in a split. On the train split, `train_pairs` > 0
    (config.data.train_pairs) keeps a fixed random subset of that many: a low-resource corpus. The
    subset depends on the dataset and the language pair only (not config.seed, not the direction):
    runs compared on it, and both directions of a pair, see the same records."""
    idx = dataset.pair_index(split, direction.src, direction.tgt)
    if split != "train" or not train_pairs or len(idx) <= train_pairs:
        return idx
    key = f"{direction.dataset}:{'-'.join(sorted((direction.src, direction.tgt)))}"
    return np.sort(np.random.default_rng(zlib.crc32(key.encode())).choice(idx, train_pairs, replace=False))


class PairSource:
    """Random access over one direction's usable pairs in a split (see `pair_index`)."""

    def __init__(self, direction: mixture.Direction, split: str, data_dir: str | None, train_pairs: int = 0):
        dataset = catalog.open_dataset(direction.dataset, data_dir)
        self._source = dataset.source(split)
        self._index = pair_index(dataset, direction, split, train_pairs)
        self._direction = direction

    def __len__(self) -> int:
        return len(self._index)

    def __getitem__(self, i: int) -> dict:
        record = self._source[self._index[i]]
        d = self._direction
        return {"direction": d.key(True), "src_lang": d.src, "tgt_lang": d.tgt, "src": record[d.src],
                "tgt": record[d.tgt], "backtranslated": d.backtranslated}


def language_records(dirs: Sequence[mixture.Direction], lang: str, split: str, data_dir: str | None,
                     train_pairs: int = 0):
    """[(dataset ref, record indices)] of the records holding human `lang` text in some direction of
    `dirs` (each record once, however many directions use it; a back-translated source or a distilled
    target is no such text; see `pair_index` for `train_pairs`)."""
    dirs = [d for d in dirs if mixture.human_text(d, lang)]
    out = []
    for ref in dict.fromkeys(d.dataset for d in dirs):
        ds = catalog.open_dataset(ref, data_dir)
        out.append((ref, np.unique(np.concatenate([pair_index(ds, d, split, train_pairs) for d in dirs
                                                   if d.dataset == ref]))))
    return out


class MonolingualSource:
    """Random access to {"text", "lang"}: each language side of the run's directions, once per record."""

    def __init__(self, dirs, split: str, data_dir: str | None, files=(), only=None, train_pairs: int = 0):
        """`files`: [(path, lang)] of plain-text files, one text per line, added to every split's text;
        `only`: keep the text of these languages alone; `train_pairs`: see pipeline.pair_index."""
        self._parts = []  # (records with a text in `lang`, record indices, lang)
        keep = lambda lang: only is None or lang in only
        for lang in filter(keep, mixture.languages(dirs)):
            for ref, idx in language_records(dirs, lang, split, data_dir, train_pairs):
                if len(idx):
                    self._parts.append((catalog.open_dataset(ref, data_dir).source(split), idx, lang))
        for path, lang in (f for f in files if keep(f[1])):
            lines = mixture.read_lines(path)
            if lines:
                self._parts.append(([{lang: line} for line in lines], np.arange(len(lines)), lang))
        self._offsets = np.cumsum([0] + [len(idx) for _, idx, _ in self._parts])

    def __len__(self) -> int:
        return int(self._offsets[-1])

    def __getitem__(self, i: int) -> dict:
        part = int(np.searchsorted(self._offsets, i, side="right")) - 1
        source, idx, lang = self._parts[part]
        return {"text": source[idx[i - self._offsets[part]]][lang], "lang": lang}


def tokenizer_corpus(dirs: Sequence[mixture.Direction], data_dir: str | None, max_sentences: int,
                     seed: int, files=(), train_pairs: int = 0) -> list[str]:
    """Training-split text of every language of the run, at most max_sentences / #languages each.

    Each language is sampled (seeded) from the records of every direction it appears in and the
    lines of its monolingual `files` [(path, lang)], so that a large language does not crowd the
    others out of the vocabulary.
    """
    languages = sorted(set(mixture.languages(dirs)) | {lang for _, lang in files})
    cap = max(1, max_sentences // len(languages))
    rng = np.random.default_rng(seed)
    out = []
    for lang in languages:
        pool = [(ref, i) for ref, idx in language_records(dirs, lang, "train", data_dir, train_pairs)
                for i in idx]
        lines = [line for path, l in files if l == lang for line in mixture.read_lines(path)]
        pool += [(None, i) for i in range(len(lines))]
        chosen = rng.permutation(len(pool))[:cap] if len(pool) > cap else range(len(pool))
        by_ref = {}
        for j in chosen:
            ref, i = pool[j]
            by_ref.setdefault(ref, []).append(i)
        for ref, indices in by_ref.items():
            if ref is None:
                out += [lines[i] for i in indices]
            else:
                out += [r[lang] for r in catalog.open_dataset(ref, data_dir).source("train").read_many(indices)]
    return out


def bt_id(tokenizer: Tokenizer, dirs: Sequence[mixture.Direction], tag: bool = True) -> int | None:
    """The `<BT>` id that marks back-translated sources, or None where nothing is tagged (`tag`: data.bt_tag)."""
    if not tag or not any(d.backtranslated for d in dirs):
        return None
    return tokenizer.symbol_id(tokenizer_lib.BT, "back-translated data is tagged with it (data.bt_tag); train a new "
                                                 "vocabulary (a new workdir), or set data.bt_tag=false")


def encode_example(tokenizer: Tokenizer, ex: dict, bt: int | None = None) -> dict:
    """Ids of a pair, with the vocabulary's affixes (xling's: target tag first on the source, EOS last
    on both; a pretrained model's language codes); `bt` (the `<BT>` id) follows the source prefix where
    the example is back-translated."""
    tags = [bt] if bt is not None and ex.get("backtranslated") else []
    inputs, = tokenizer.encode_sources([ex["src"]], ex["src_lang"], ex["tgt_lang"], tags)
    targets, = tokenizer.encode_targets([ex["tgt"]], ex["tgt_lang"])
    return {"inputs": np.asarray(inputs, np.int32), "targets": np.asarray(targets, np.int32)}


def augment_mask_id(tokenizer: Tokenizer, options: augment.Options) -> int | None:
    """Checks that the vocabulary can do what `options` asks (a UserError before anything is compiled,
    not per example); the `<mask>` id where the noise blanks words."""
    if options.sampling_alpha > 0:
        tokenizer.check_sampling()
    if options.blank:
        return tokenizer.symbol_id(tokenizer_lib.MASK, "data.noise.blank replaces words by it: set data.noise.blank=0")
    return None


def encode_augmented(tokenizer: Tokenizer, ex: dict, rng: np.random.Generator, options: augment.Options,
                     bt: int | None = None, mask_id: int | None = None) -> dict:
    """`encode_example` of a training pair with `options` (data/augment.py) drawn from `rng`: either side's
    segmentation sampled, and the source (of a back-translated pair alone with only_backtranslated) noised."""
    def encoder(side: str):
        if not options.sampled(side):
            return tokenizer.encode if side == "source" else tokenizer.encode_target
        sampled = tokenizer.encode_sampled if side == "source" else tokenizer.encode_target_sampled
        return lambda text: sampled(text, rng, options.sampling_alpha, options.nbest)

    encode = encoder("source")
    if options.noise and (ex.get("backtranslated") or not options.only_backtranslated):
        words = augment.noised_words(ex["src"].split(), rng, word_dropout=options.word_dropout,
                                     blank=options.blank, shuffle_k=options.shuffle_k)
        # A blanked word is one <mask>; the runs of words between blanks are encoded as texts of their own
        # (a run's first piece starts with "▁" as it does within the sentence), so that a sampled segmentation
        # comes from a run's n-best as it would from the sentence's (each word's own would vary far more).
        text = []
        for blanked, run in itertools.groupby(words, key=lambda w: w is None):
            run = list(run)
            text += [mask_id] * len(run) if blanked else encode(" ".join(run))
    else:
        text = encode(ex["src"])
    prefix, suffix = tokenizer.source_affixes(ex["src_lang"], ex["tgt_lang"])
    tags = [bt] if bt is not None and ex.get("backtranslated") else []
    lead = task_text(tokenizer.task_prefix, ex["src_lang"], ex["tgt_lang"])
    inputs = prefix + tags + (tokenizer.encode(lead) if lead else []) + text + suffix
    prefix, suffix = tokenizer.target_affixes(ex["tgt_lang"])
    targets = prefix + encoder("target")(ex["tgt"]) + suffix
    return {"inputs": np.asarray(inputs, np.int32), "targets": np.asarray(targets, np.int32)}


def mixed_dataset(plan: DataPlan, seed: int) -> grain.MapDataset:
    """Endless shuffled mixture of the training pairs of the plan's directions, at the plan's sampling
    rates; `seed` (config.seed) seeds the shuffles: another seed is another order of the same pairs."""
    sources = [PairSource(d, "train", plan.data_dir, plan.train_pairs) for d in plan.directions]
    parts = [grain.MapDataset.source(s).seed(seed + i).shuffle().repeat()
             for i, s in enumerate(sources) if len(s)]
    live = plan.rates[plan.rates > 0]
    return parts[0] if len(parts) == 1 else grain.MapDataset.mix(parts, list(live))


def eval_examples(tokenizer: Tokenizer, direction: mixture.Direction, split: str,
                  data_dir: str | None) -> grain.MapDataset:
    source = PairSource(direction, split, data_dir)
    return grain.MapDataset.source(source).map(lambda ex: encode_example(tokenizer, ex))


def eval_batches(tokenizer: Tokenizer, direction: mixture.Direction, data_dir: str | None, split: str = "dev", *,
                 batch_size: int, max_len: int, limit: int = 0, process_index: int = 0, process_count: int = 1):
    """This process's rows of padded, unshuffled global batches (`batch_size` rows) over one direction
    of a split, at most `limit` of them (config.eval_batches; 0: all).

    Rows are padded to `max_len` (data.max_len; longer examples truncated); the last batch is
    filled with empty rows, which carry no weight.
    """
    ds = eval_examples(tokenizer, direction, split, data_dir)
    n_batches = -(-len(ds) // batch_size)
    if limit:
        n_batches = min(n_batches, limit)
    for b in range(n_batches):
        rows = [ds[i] for i in range(b * batch_size, min((b + 1) * batch_size, len(ds)))]
        rows += [{k: np.zeros(0, np.int32) for k in FEATURES}] * (batch_size - len(rows))
        batch = bucket.pad_batch(rows, max_len)
        per = batch_size // process_count
        yield {k: v[process_index * per:(process_index + 1) * per] for k, v in batch.items()}


def stack(examples: Sequence[dict]) -> dict:
    return {k: np.stack([e[k] for e in examples]) for k in examples[0]}
