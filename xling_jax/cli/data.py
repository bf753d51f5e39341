"""`xling data build NAME` and `xling data show NAME`."""
import json
import textwrap
import time

from xling_jax.errors import UserError


def add_parsers(sub) -> None:
    data = sub.add_parser("data", help="build and inspect datasets").add_subparsers(dest="data_command",
                                                                                     required=True)
    build = data.add_parser(
        "build", help="build a dataset (TFDS, array_record) into the data directory",
        description="NAME: bible, libreoffice_help, gettext, parallel_text, or a TFDS catalog dataset such as "
                    "wmt14_translate/de-en.")
    build.add_argument("name")
    _data_dir_arg(build)
    build.add_argument("--install", action="store_true", help="apt-get install missing Debian packages first")
    build.add_argument("--name", dest="config_name", default="",
                       help="gettext / parallel_text: the dataset's name (it becomes gettext/NAME)")
    build.add_argument("--source", default="", help="gettext: folder with .po/.mo catalogs")
    build.add_argument("--languages", default="", help="gettext: codes to keep; parallel_text: the column/"
                                                       "file languages in order, e.g. en,de")
    build.add_argument("--synthetic", default="", help="parallel_text: the language whose side is machine-"
                                                      "translated (back-translation; see xling backtranslate)")
    for split in ("train", "dev", "test"):
        build.add_argument(f"--{split}", default="", help=f"parallel_text: {split} TSV file, or one line-aligned "
                                                          "file per language, comma-separated")
    build.add_argument("--manual_dir", default="", help="TFDS catalog datasets: folder with manually "
                                                        "downloaded archives")

    show = data.add_parser("show", help="sizes, languages and a few examples of a built dataset")
    show.add_argument("name")
    _data_dir_arg(show)
    show.add_argument("--split", default="train")
    show.add_argument("--examples", type=int, default=3, help="examples to print")


def _data_dir_arg(p) -> None:
    p.add_argument("--data_dir", default="", help="default: $XLING_DATA_DIR or ~/.cache/xling_jax/datasets")


def csv(text: str) -> list[str]:
    """Items of a comma-separated flag, stripped; empty ones dropped."""
    return [t.strip() for t in text.split(",") if t.strip()]


def build_options(args) -> tuple[str, dict | None]:
    """The dataset reference and, for parametric builders, their options from the flags."""
    from xling_jax.data import catalog
    ref = args.name
    family, config = catalog.split_ref(ref) if "/" in ref else (ref, None)
    if family not in catalog.PARAMETRIC:
        return ref, None
    name = config or args.config_name
    if not name:
        raise UserError(f"`xling data build {family}` needs --name NAME (the dataset becomes {family}/NAME)")
    if family == "gettext":
        if not args.source:
            raise UserError("`xling data build gettext` needs --source DIR, a folder with .po/.mo catalogs")
        options = {"source": args.source, "languages": csv(args.languages) or None}
    else:
        if not args.train or not args.languages:
            raise UserError("`xling data build parallel_text` needs --languages L1,L2 and --train FILE "
                            "(a TSV, or one line-aligned file per language: --train a.en,a.de)")
        options = {"languages": csv(args.languages)}
        if args.synthetic:
            options["synthetic"] = args.synthetic
        for split in ("train", "dev", "test"):
            files = csv(getattr(args, split))
            if files:
                options[split] = files[0] if len(files) == 1 else files
    return f"{family}/{name}", options


def cmd_build(args) -> None:
    from xling_jax.data import catalog
    ref, options = build_options(args)
    start = time.perf_counter()
    path = catalog.build(ref, args.data_dir, install=args.install, options=options,
                          manual_dir=args.manual_dir or None)
    ds = catalog.Dataset(ref, path)
    print(json.dumps({"dataset": ref, "path": path, "languages": list(ds.languages), "splits": ds.splits,
                      "seconds": round(time.perf_counter() - start, 1)}))


def cmd_show(args) -> None:
    from xling_jax.data import catalog
    ds = catalog.open_dataset(args.name, catalog.resolve_data_dir(args.data_dir))
    split = ds.split_name(args.split)
    print(f"{ds.ref}  ({ds.path})")
    first = ds.description.strip().split("\n\n")[0]
    print(textwrap.fill(" ".join(first.split()), width=100))
    print(f"languages: {', '.join(ds.languages)}")
    print("records:   " + ", ".join(f"{k} {v:,}" for k, v in sorted(ds.splits.items())))
    if ds.synthetic:
        print(f"synthetic: {ds.synthetic} (back-translated sources)")
    if ds.distilled:
        print(f"distilled: targets translated by a teacher from {ds.distilled_from}'s "
              "sources; train records " + ", ".join(f"{d} {a:,}-{b:,}" for d, (a, b) in ds.distilled.items()))
    splits = sorted(ds.splits)
    counts = {s: ds.pair_counts(s) for s in splits}
    pairs = list(counts[splits[0]])
    width = max(len(p) for p in pairs) if pairs else 5
    print("pairs:     " + " " * width + "".join(f"{s:>12}" for s in splits))
    for p in pairs:
        print(f"           {p:<{width}}" + "".join(f"{counts[s][p]:>12,}" for s in splits))
    source = ds.source(split)
    n = min(args.examples, len(source))
    if n:
        print(f"first {n} examples of {split}:")
    for i in range(n):
        record = source[i]
        for k, v in record.items():
            text = v if len(str(v)) <= 200 else str(v)[:200] + "…"
            print(f"  [{i}] {k}: {text}")
