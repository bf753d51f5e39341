import os
import shutil

import pytest

from xling_jax.data import catalog

TINY_CONFIG = os.path.join(os.path.dirname(__file__), "tiny_config.py")


def pytest_xdist_auto_num_workers(config):
    """`-n auto` (pytest.ini): a worker per core, at most 4; each is a JAX process of a few GB whose
    tests start subprocesses of their own. XLING_TEST_WORKERS overrides."""
    return int(os.environ.get("XLING_TEST_WORKERS") or max(1, min(os.cpu_count() or 1, 4)))


def tiny_data_config(**data):
    """The tiny config with `data.KEY=VALUE` overrides."""
    from xling_jax.configs.loading import load_config_file
    c = load_config_file(TINY_CONFIG)
    for k, v in data.items():
        c.data[k] = v
    return c


@pytest.fixture(scope="session")
def bible_data_dir():
    """The real Bible corpus, built once into the user's data directory (as the main job does)."""
    return catalog.ensure_built("bible")


@pytest.fixture(scope="session")
def tiny_tokenizer(bible_data_dir, tmp_path_factory):
    """A tokenizer for the tiny config, trained once and copied into each test's workdir."""
    from xling_jax.configs.loading import load_config_file
    from xling_jax.data import plan as data_plan
    from xling_jax.training.train import setup_tokenizer
    workdir = str(tmp_path_factory.mktemp("tokenizer"))
    config = load_config_file(TINY_CONFIG)
    setup_tokenizer(config, workdir, data_plan.resolve(config.data, bible_data_dir))
    return os.path.join(workdir, "tokenizer.model")


@pytest.fixture
def tiny_workdir(tmp_path, tiny_tokenizer):
    workdir = tmp_path / "run"
    workdir.mkdir()
    shutil.copy(tiny_tokenizer, workdir / "tokenizer.model")
    return str(workdir)


def read_built(builder):
    """(builder read back from its directory, {split: [records with str values]}) of a finished build."""
    import tensorflow_datasets as tfds
    loaded = tfds.builder_from_directory(builder.data_dir)
    out = {}
    for split in loaded.info.splits:
        source = loaded.as_data_source(split)
        out[split] = [{k: v.decode("utf-8") for k, v in source[i].items()} for i in range(len(source))]
    return loaded, out


# A tiny libreoffice_help: six pages per help module (4 cls-train, 1 cls-dev, 1 cls-test by the
# classifier's page hash), each paragraph naming its module with a word of its own in every language,
# amid words shared by all modules; every page also has "Click OK." (text repeated across pages).
TINY_MODULE_WORDS = {  # module: en, de, es, fr, zh
    "swriter": ("document", "Dokument", "documento", "texte", "文档"),
    "scalc": ("spreadsheet", "Tabelle", "hoja", "classeur", "表格"),
    "simpress": ("slide", "Folie", "diapositiva", "diapo", "幻灯片"),
    "sdraw": ("drawing", "Zeichnung", "dibujo", "dessin", "绘图"),
    "smath": ("formula", "Formel", "fórmula", "formule", "公式"),
    "sdatabase": ("database", "Datenbank", "tabla", "données", "数据库"),
    "schart": ("chart", "Diagramm", "gráfico", "graphique", "图表"),
    "sbasic": ("macro", "Makro", "macros", "macrocommande", "宏"),
    "shared": ("option", "Option", "opción", "réglage", "选项"),
}
TINY_FILLERS = (  # en, de, es, fr, zh
    ("click", "the", "menu", "window", "select", "open", "icon", "toolbar"),
    ("klicken", "Sie", "das", "Menü", "Fenster", "wählen", "öffnen", "Symbol"),
    ("haga", "clic", "el", "menú", "ventana", "elija", "abrir", "icono"),
    ("cliquez", "sur", "le", "menu", "fenêtre", "choisissez", "ouvrir", "icône"),
    ("点击", "菜单", "窗口", "选择", "打开", "图标", "工具栏", "然后"),
)
TINY_CLICK_OK = ("Click OK.", "Klicken Sie auf OK.", "Haga clic en Aceptar.", "Cliquez sur OK.", "点击确定。")


def tiny_libreoffice_pages(paragraphs_per_page: int = 6) -> dict:
    """{page path: [(id, (en, de, es, fr, zh))]}, page names chosen so that each module has
    4 cls-train, 1 cls-dev and 1 cls-test pages."""
    import random

    from xling_jax.classification.data import page_split
    rng = random.Random(0)
    pages = {}
    for module, words in TINY_MODULE_WORDS.items():
        want, k = {"train": 4, "dev": 1, "test": 1}, 0
        while any(want.values()):
            path, k = f"text/{module}/guide/page{k}.html", k + 1
            if want[page_split(path)]:
                want[page_split(path)] -= 1
                paras = [("par_idok", TINY_CLICK_OK)]
                for i in range(paragraphs_per_page):
                    order = rng.sample(range(8), 4)
                    slot = rng.randrange(5)
                    texts = []
                    for lang, fillers in enumerate(TINY_FILLERS):
                        w = [fillers[j] for j in order]
                        w.insert(slot, words[lang])
                        texts.append(("" if lang == 4 else " ").join(w) + ("。" if lang == 4 else "."))
                    paras.append((f"par_id{i}", tuple(texts)))
                pages[path] = paras
    return pages


@pytest.fixture(scope="session")
def tiny_libreoffice_dir(tmp_path_factory):
    """A data directory holding the tiny libreoffice_help, built by the real builder from HTML pages
    written here (instead of the Debian packages)."""
    from xling_jax.data.libreoffice import builder, corpus, download
    root = tmp_path_factory.mktemp("tiny_help")
    for path, paras in tiny_libreoffice_pages().items():
        for lang, code in enumerate(corpus.LANGUAGES):
            full = root / download.HELP_DIRS[code] / path
            full.parent.mkdir(parents=True, exist_ok=True)
            body = "".join(f'<p id="{pid}">{texts[lang]}</p>' for pid, texts in paras)
            full.write_text(f'<html><body><div id="DisplayArea">{body}</div></body></html>', encoding="utf-8")
    data_dir = str(tmp_path_factory.mktemp("tiny_data"))
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(download, "fetch", lambda *a, **k: str(root))
        mp.setattr(download, "deb_versions", lambda *a, **k: {})
        builder.build(data_dir)
    return data_dir


def untrained_run(workdir, config, tokenizer_path) -> str:
    """WORKDIR holding `config`, the tokenizer and random step-0 params (as `xling import` writes a run):
    for tests that need a model to decode with, not a trained one."""
    from xling_jax.bench.decode import random_params
    from xling_jax.data.tokenizer import Tokenizer
    from xling_jax.model import build_model
    from xling_jax.training import checkpoints
    from xling_jax.training import workdir as workdir_lib
    workdir = str(workdir)
    os.makedirs(workdir, exist_ok=True)
    shutil.copy(tokenizer_path, os.path.join(workdir, "tokenizer.model"))
    tokenizer = Tokenizer(tokenizer_path)
    model = build_model(config.model, tokenizer.vocab_size)
    workdir_lib.save_config(workdir, config)
    checkpoints.save_params(workdir, config, random_params(model, config.seed, tokenizer.pad_id))
    return workdir
