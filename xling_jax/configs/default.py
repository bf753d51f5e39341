"""Default config: a small English<->Spanish Bible model for 2 CPU cores.

Run:    xling train --workdir runs/bible_en_es        (this config is the default)
Then:   xling eval --workdir runs/bible_en_es --split test
Sized:  2 CPU cores: 12.8 min on 2 idle cores for the README's main command from a fresh clone
        (set-up and data build included; 2026-11-23), 10.1 min with the data already built
        (2026-11-24).
Expect: test (Mark, Lamentations, Titus, Philemon) BLEU / chrF++ en->es 13.1 / 32.4,
        es->en 15.3 / 35.8; about 12,500 training tokens/s.
"""
import ml_collections


def get_config() -> ml_collections.ConfigDict:
    c = ml_collections.ConfigDict()
    c.seed = 0

    c.data = ml_collections.ConfigDict()
    c.data.name = "bible"  # a dataset in xling_jax.data.catalog
    c.data.data_dir = ""  # "" means $XLING_DATA_DIR, else ~/.cache/xling_jax/datasets
    c.data.directions = ("en-es", "es-en")  # source-target language pairs of data.name
    # A mixture instead: ("libreoffice_help:en-de", "bible:en-es", ...); see xling_jax/data/mixture.py.
    c.data.mixture = ()
    c.data.both_directions = True  # each mixture entry also trains in reverse
    c.data.temperature = 1.0  # direction sampling p_i ~ n_i^(1/T): 1 = proportional, large = uniform
    c.data.sources = ml_collections.ConfigDict()  # NAME -> build options of gettext/NAME, parallel_text/NAME
    # A low-resource corpus: a fixed random subset of N training pairs per language pair (0: all); the
    # vocabulary and the denoising tasks see only its text too (see data/pipeline.py, pair_index).
    c.data.train_pairs = 0
    # Back-translated datasets (`xling backtranslate`, or parallel_text with a `synthetic` language) in the
    # mixture: their share of the translation pairs (0 < r < 1; 0: sampled by size like the rest, see
    # data.temperature), and whether their sources carry <BT> after the target tag (tagged back-translation).
    c.data.bt_ratio = 0.0
    c.data.bt_tag = True
    # Distilled datasets (`xling distill`: a teacher's translations as targets) in the mixture: their share of
    # the translation pairs (0 < d < 1, bt_ratio + d < 1; 0: sampled by size like the rest).
    c.data.distill_ratio = 0.0
    # Text before every translation source, e.g. T5's "translate {src} to {tgt}: " ({src}/{tgt}: English
    # language names, {src_code}/{tgt_code}: the codes); "": none. `xling import hf` sets T5's.
    c.data.task_prefix = ""
    c.data.max_len = 96  # tokens per source/target row; longer training pairs are dropped
    c.data.pack = True  # pack several pairs into each row (segment ids keep them apart)
    c.data.packing_bins = 0  # first-fit packing bins; 0 means the per-process batch size
    c.data.bucket_window = 32  # without packing: batches sorted by length together
    c.data.bucket_step = 16  # without packing: batches are padded to a multiple of this
    c.data.prefetch = 2  # batches prepared (and put on device) ahead of the step
    # Plain-text files "PATH:LANG" (one text per line) for the denoising tasks, beside the monolingual
    # sides of the directions; their languages join the vocabulary (tags, tokenizer training text).
    c.data.monolingual = ()
    # Noise on the sources of the training translation pairs, per example (data/augment.py; Edunov et al.
    # 2018's noised back-translation): never on targets, the other tasks' text or evaluation data. Words are
    # whitespace-separated: a text without spaces (Chinese) is one word.
    c.data.noise = ml_collections.ConfigDict()
    c.data.noise.word_dropout = 0.0  # probability of deleting each (whitespace-separated) word
    c.data.noise.blank = 0.0  # probability of replacing each word by <mask> (word_dropout + blank < 1)
    c.data.noise.shuffle_k = 0  # local shuffle: no word moves more than k positions (0: off)
    c.data.noise.only_backtranslated = False  # noise the back-translated pairs alone (noised BT)

    c.tokenizer = ml_collections.ConfigDict()
    c.tokenizer.vocab_size = 4000
    c.tokenizer.model_type = "unigram"
    c.tokenizer.max_sentences = 200_000  # sentencepiece input sample size
    c.tokenizer.sentinels = 0  # T5 span-corruption sentinels <extra_id_N> in the vocabulary (<mask> is always there)
    # Subword regularisation of the training translation pairs (Kudo 2018; data/augment.py): each text's
    # segmentation drawn from its nbest best with probability ~ exp(alpha * score); unigram vocabularies only.
    c.tokenizer.sampling_alpha = 0.0  # 0: off (always the best segmentation); e.g. 0.1-0.2 with nbest 64
    c.tokenizer.nbest = 64  # segmentations sampled from (>= 2)
    c.tokenizer.sampling_sides = "both"  # the sides sampled: "both", "source" or "target"

    c.model = ml_collections.ConfigDict()
    c.model.name = "transformer"  # or "lstm" (model/lstm.py: the lstm_* keys, emb_dim, layers, dropout, embeddings)
    c.model.emb_dim = 128
    c.model.num_heads = 4
    c.model.num_layers = 3
    c.model.num_decoder_layers = 0  # 0: same as num_layers
    c.model.mlp_dim = 512
    c.model.dropout_rate = 0.0  # the default run sees each pair about once: nothing to regularise
    c.model.attention_dropout_rate = 0.0
    c.model.pre_ln = True
    c.model.positions = "sinusoidal"  # or "learned", "sinusoidal_marian" (Marian's frequencies), "relative" (T5)
    c.model.max_len = 512  # learned position table size (and Marian's max_position_embeddings on export)
    c.model.share_embeddings = True  # one embedding for source and target (else one each)
    c.model.output_projection = "auto"  # "auto": tied if share_embeddings, else separate; "tied"; "separate"
    c.model.final_logits_bias = False  # a learned bias added to the logits (Marian has one)
    c.model.activation = "relu"  # MLP activation: "relu", "swish" (= silu; Marian), "gelu" or "gelu_tanh"
    c.model.layer_norm_eps = 1e-6  # Marian/PyTorch use 1e-5
    c.model.scale_embeddings = True  # embeddings * sqrt(emb_dim) on input (see model/transformer.py)
    c.model.num_languages = 0  # XLM language embeddings (translation LM); 0: none
    # Options pretrained checkpoints need (`xling import hf` sets them; see model/transformer.py):
    c.model.num_decoder_heads = 0  # 0: num_heads
    c.model.decoder_mlp_dim = 0  # 0: mlp_dim
    c.model.embedding_norm = False  # layer norm on the embeddings (mBART)
    c.model.position_offset = 0  # added to positions (fairseq M2M100/NLLB: pad_id + 1; mBART's learned table: 2)
    c.model.tied_logits_scale = "auto"  # "auto": tied logits / sqrt(emb_dim) if not scale_embeddings; "none"
    c.model.activation_dropout_rate = -1.0  # dropout after the MLP activation; -1: model.dropout_rate
    # The T5 family (see model/transformer.py): "rms" norms, no biases, a head width of its own (0: emb_dim /
    # num_heads), unscaled attention, a gated MLP, and positions="relative" with these buckets, one table per
    # stack or per layer (umT5).
    c.model.norm = "layer"
    c.model.use_bias = True
    c.model.head_dim = 0
    c.model.scale_attention = True
    c.model.mlp_gated = False
    c.model.relative_buckets = 32
    c.model.relative_max_distance = 128
    c.model.relative_per_layer = False
    # Special ids of the vocabulary: xling's sentencepiece has pad 0, EOS 1 and decodes from pad; an import
    # writes the model's own (OPUS-MT: pad = decoder start = the last id, EOS 0; NLLB: pad 1, EOS 2, start
    # EOS; -1: each target starts from its own last token, mBART-25's language code).
    c.model.pad_id = 0
    c.model.eos_id = 1
    c.model.decoder_start_id = 0
    c.model.dtype = "float32"  # "bfloat16" on GPU/TPU, and on CPUs with AMX (README: Benchmarks)
    c.model.param_dtype = "float32"  # or "bfloat16": params made, stored and restored in 16 bits (large imports)
    c.model.remat = "none"  # or "full", "dots": recompute layer activations in the backward pass (memory)
    # model.name="lstm" only (the Transformer keys num_heads, mlp_dim, pre_ln, positions... do not apply):
    c.model.lstm_hidden = 0  # LSTM width (both encoder directions together); 0: emb_dim
    c.model.lstm_attention = "luong"  # "bahdanau" (additive), "luong" (general, input feeding) or "luong_dot"
    c.model.lstm_bidirectional = True  # encoder layers read both ways, lstm_hidden / 2 units each

    c.train = ml_collections.ConfigDict()
    c.train.steps = 4000
    # Global batch in rows of data.max_len tokens (a packed row holds about 2-3 pairs). Small batches
    # and many steps learn fastest per CPU-second here (measured: 4 rows beat 8 and 16 rows at equal time).
    c.train.batch_size = 8  # rows of data.max_len packed tokens; 4 gave 1.6 / 2.5 test BLEU in 7.8 min
    # Microbatches per step: the batch is split in this many, their gradients summed (the update of
    # the whole batch with the activation memory of one part; train.batch_size must divide evenly).
    c.train.grad_accum_steps = 1
    c.train.learning_rate = 4e-3
    c.train.warmup_steps = 200
    c.train.schedule = "cosine"  # or "inverse_sqrt"
    c.train.weight_decay = 0.01
    c.train.b1 = 0.9
    c.train.b2 = 0.98
    c.train.grad_clip = 1.0
    c.train.label_smoothing = 0.1
    c.train.freeze = ()  # regexes on param paths (e.g. "encoder") that get no updates
    # Gradual magnitude pruning (training/pruning.py): the smallest weights of each matched param zeroed,
    # up to `sparsity` at `end_step` on a cubic schedule from `start_step`, masks recomputed `every` steps.
    c.train.prune = ml_collections.ConfigDict()
    c.train.prune.sparsity = 0.0  # 0: no pruning
    c.train.prune.start_step = 0
    c.train.prune.end_step = 0
    c.train.prune.every = 100
    c.train.prune.params = (r".*/kernel", r"(target_)?embedding/embedding")  # regexes on whole param paths
    # A step with a non-finite loss or gradient is skipped (params unchanged, counted as `nonfinite` in
    # metrics); after this many in a row training stops with an error naming the last good checkpoint (0: never).
    c.train.max_nonfinite = 10
    # A step whose loss exceeds this factor times the running mean of logged losses is reported (stderr, and
    # `loss_spikes` in metrics); 0: off.
    c.train.spike_factor = 3.0

    # Fine-tuning: start a new run from another run's params (see training/init_from.py).
    c.init_from = ml_collections.ConfigDict()
    c.init_from.workdir = ""  # an xling run or an imported Marian model; its vocabulary is copied
    c.init_from.step = ""  # "" (latest), a step number, or "best"
    c.init_from.include = ()  # regexes on param paths to load (e.g. "encoder"); empty: all
    c.init_from.exclude = ()  # regexes on param paths to leave newly initialised

    # Tasks mixed per example, NAME:RATE: "translation" (the data mixture), "mbart" (denoising), "t5"
    # (span corruption) on the monolingual sides of the data, and the encoder-only XLM tasks "mlm"
    # (masked LM), "clm" (causal LM) and "tlm" (translation LM on the pairs); see objectives/tasks.py.
    c.tasks = ("translation:1",)
    c.objective = ml_collections.ConfigDict()
    c.objective.mlm_rate = 0.15  # share of tokens predicted (mlm, tlm)
    c.objective.mlm_mask_prob = 0.8  # of those: replaced by <mask>
    c.objective.mlm_random_prob = 0.1  # replaced by a random token (the rest are kept)
    c.objective.mbart_ratio = 0.35  # share of tokens masked, in spans
    c.objective.mbart_lambda = 3.5  # Poisson mean of span lengths
    c.objective.mbart_permute = True  # shuffle the sentences of each text
    c.objective.t5_density = 0.15  # share of tokens corrupted
    c.objective.t5_mean_span = 3.0
    c.objective.t5_sentinels = 100  # sentinels available (needs tokenizer.sentinels >= this)

    # Online back-translation (objectives/online_bt.py): rows per global batch whose source the model
    # itself translates from monolingual text during training (0: off), from step start_step on.
    c.online_bt = ml_collections.ConfigDict()
    c.online_bt.rows = 0
    c.online_bt.start_step = 0  # a model that cannot translate yet makes useless pairs
    c.online_bt.languages = ()  # back-translated from and into; empty: the languages of the directions
    c.online_bt.method = "greedy"  # or "sample" (ancestral sampling at online_bt.temperature)
    c.online_bt.temperature = 1.0

    # `xling classify`: which help module a libreoffice_help paragraph comes from, trained in some
    # languages and scored in all (see xling_jax/classification/train.py). It trains with
    # config.train/model/tokenizer/init_from like `xling train`; with init_from.workdir the model
    # section is the source run's (only its dropout rates come from this config).
    c.classify = ml_collections.ConfigDict()
    c.classify.pooling = "mean"  # encoder states -> one vector: "mean" (non-padding tokens) or "first"
    # Every text, whatever its language, starts like a translation source into this language (its tag,
    # e.g. <2en>); "": no tag.
    c.classify.tag_language = "en"
    c.classify.max_len = 128  # tokens per text (tag and EOS included); longer texts are cut
    c.classify.train_languages = ("en",)  # languages of the labelled cls-train examples
    c.classify.eval_languages = ("en", "de", "es", "fr", "zh")  # scored on dev and eval_split
    c.classify.train_limit = 0  # cls-train examples per training language (a seeded subset; 0: all)
    c.classify.eval_limit = 0  # dev and eval_split records scored (a seeded subset; 0: all)
    c.classify.eval_split = "test"  # "dev" or "test": the split of classify_results.json
    c.classify.select = "best"  # params scored at the end: "best" (dev accuracy in train_languages) or "last"
    c.classify.eval_batch_size = 64  # texts per prediction batch

    # The contrastive retrieval task (config.tasks = ("retrieval:1",), run by `xling train`; see
    # xling_jax/retrieval/train.py): a dual encoder (one Embedder for both sides) trained on the pairs of
    # the data mixture (data.*) with in-batch negatives and an additive margin (LaBSE), scored by P@1 of
    # dev retrieval; with init_from.workdir it starts from that run's encoder, as classification does.
    c.retrieval = ml_collections.ConfigDict()
    c.retrieval.pooling = "mean"  # encoder states -> one vector: "mean" (non-padding tokens) or "first"
    # Every text, whatever its language, is framed as a source into this one language (its tag, e.g.
    # <2en>; decoding/embed.py); "": English where the vocabulary has it, else its first language.
    c.retrieval.tag_language = "en"
    c.retrieval.margin = 0.3  # subtracted from the cosine of each true pair (additive margin softmax)
    c.retrieval.scale = 20.0  # cosines times this are the logits (a temperature of 1/20; LaBSE-style)
    c.retrieval.max_len = 96  # tokens per text (tag and EOS included); longer texts are cut
    c.retrieval.eval_limit = 1000  # dev and eval_split pairs per language pair (a seeded subset; 0: all)
    c.retrieval.eval_split = "test"  # "dev" or "test": the split of retrieval_results.json
    c.retrieval.select = "best"  # params scored at the end: "best" (dev_p1) or "last"
    c.retrieval.eval_batch_size = 64  # texts per embedding batch in evaluations

    c.mesh = ml_collections.ConfigDict()
    c.mesh.data = -1  # data-parallel size; -1 means the devices fsdp x tensor leave, of all processes
    c.mesh.fsdp = 1  # splits the batch like data, and shards params and optimizer state (see training/mesh.py)
    c.mesh.tensor = 1  # model parallel: attention heads, MLP units and the vocabulary
    # Logical axes of the model (model/transformer.py) -> mesh axes, "LOGICAL=AXIS[+AXIS]"; unlisted names
    # (and "NAME=") stay whole. Batches are always split over data x fsdp.
    c.mesh.rules = ("embed=fsdp", "heads=tensor", "mlp=tensor", "vocab=tensor")

    c.checkpoint_every = 1000
    c.keep_checkpoints = 3
    c.log_every = 100
    c.eval_every = 2000  # dev loss (and dev BLEU, see eval_bleu) every N steps
    c.eval_batches = 0  # dev batches per evaluation; 0 = whole split
    c.eval_bleu = True  # also decode dev (config.decode), log BLEU/chrF++, keep the best params in WORKDIR/best
    c.eval_bleu_limit = 0  # dev sentences decoded per direction; 0 = all
    # The evaluators of training/loop.py, each run every `every` steps (0: eval_every) and at the last step:
    # dev_loss and dev_bleu (with eval_bleu) in translation runs, dev_accuracy in classification runs, dev_p1
    # in retrieval runs.
    c.evals = ml_collections.ConfigDict({name: {"every": 0}
                                         for name in ("dev_loss", "dev_bleu", "dev_accuracy", "dev_p1")})

    # `xling sweep`: after training, each run is scored on this split, its hypotheses and references kept
    # for `xling compare`'s paired bootstrap (experiments/sweep.py).
    c.final_eval = ml_collections.ConfigDict()
    c.final_eval.split = "test"  # "" : no final decoding (dev metrics from training only)
    c.final_eval.limit = 0  # sentences per direction (the first N; 0: all)
    c.final_eval.step = "best"  # params scored: "best" (best dev BLEU, where eval_bleu kept one) or "last"

    # Fault injection for tests: these (1-based) steps get a NaN loss inside the jitted step.
    c.debug = ml_collections.ConfigDict()
    c.debug.nan_steps = ()

    c.decode = ml_collections.ConfigDict()
    c.decode.method = "beam"  # "beam", "greedy" or "sample" (see decoding/translate.py)
    c.decode.beam_size = 4
    c.decode.alpha = 0.6  # GNMT length penalty ((5 + L) / 6) ** alpha; 0 = raw log-probability
    c.decode.nbest = 1  # hypotheses returned per input (at most beam_size)
    c.decode.temperature = 1.0  # sampling only
    c.decode.top_k = 0  # sampling only; 0 = no top-k filter
    c.decode.top_p = 1.0  # sampling only; 1 = no nucleus filter
    c.decode.seed = 0  # sampling only
    c.decode.batch_size = 64
    c.decode.max_len_a = 1.5  # max target tokens = a * source tokens + b
    c.decode.max_len_b = 10
    c.decode.min_len = 0  # no EOS before this many tokens (benchmarks force a fixed length)
    # "int8": int8 weights and activations (per output channel / per row); "int8-weights": weight-only;
    # "none": the params as trained (model/quantize.py says what each costs)
    c.decode.quantize = "none"
    return c
