"""TensorFlow is neither installed with xling_jax nor imported by `xling train`: TFDS datasets are
read as array_record through grain."""
import ast
import importlib.metadata
import os
import re
import subprocess
import sys

from conftest import TINY_CONFIG
from packaging.requirements import Requirement

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TENSORFLOW = {"tensorflow", "tensorflow-cpu", "tensorflow-gpu", "tensorflow-intel", "tensorflow-macos",
              "tensorflow-aarch64", "tf-nightly", "tf-nightly-cpu", "tf-nightly-gpu"}


def _canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _install_requires() -> list[str]:
    """setup.py's install_requires, read from the source (what `pip install -e .` asks for now)."""
    tree = ast.parse(open(os.path.join(ROOT, "setup.py"), encoding="utf-8").read())
    for node in ast.walk(tree):
        if isinstance(node, ast.keyword) and node.arg == "install_requires":
            return ast.literal_eval(node.value)
    raise AssertionError("setup.py has no install_requires")


def _requirement_closure(requirements: list[str]) -> set[str]:
    """Every distribution the requirements pull in, through the installed distributions' own
    requirements; a requirement counts only where its marker holds for the extras asked of it
    (tensorflow-datasets names TensorFlow under extras such as "tensorflow")."""
    seen, todo = set(), [(Requirement(r), frozenset()) for r in requirements]
    while todo:
        req, asked = todo.pop()
        if req.marker and not any(req.marker.evaluate({"extra": e}) for e in asked | {""}):
            continue
        key = (_canonical(req.name), frozenset(req.extras))
        if key in seen:
            continue
        seen.add(key)
        try:
            dist = importlib.metadata.distribution(req.name)
        except importlib.metadata.PackageNotFoundError:
            continue  # not installed: still counted above, so a TensorFlow requirement is seen
        todo += [(Requirement(r), frozenset(req.extras)) for r in dist.requires or []]
    return {name for name, _ in seen}


def test_tensorflow_is_not_installed_nor_required():
    installed = {_canonical(d.metadata["Name"]) for d in importlib.metadata.distributions()}
    assert not installed & TENSORFLOW, installed & TENSORFLOW
    pulled = _requirement_closure(_install_requires())
    assert {"tensorflow-datasets", "grain", "jax", "array-record", "etils"} <= pulled  # the walk reaches them
    assert not pulled & TENSORFLOW, pulled & TENSORFLOW


# A stand-in `tensorflow` package that any import of it reports (then fails, as where none is
# installed): with TensorFlow importable, libraries that use it when present would import it.
_STUB = """
import os, traceback
with open(os.environ["XLING_TEST_TF_IMPORTS"], "a") as f:
    f.write("".join(traceback.format_stack()) + "\\n")
raise ImportError("tensorflow is a stand-in here")
"""

_TRAIN = """
import sys
from xling_jax.cli.main import main
status = main(["train", "--config", sys.argv[1], "--workdir", sys.argv[2], "--config.train.steps=1",
               "--config.eval_every=1", "--config.checkpoint_every=1", "--config.eval_batches=1"])
print("loaded:", sorted(m for m in sys.modules if m.split(".")[0] == "tensorflow"))
sys.exit(status)
"""


def test_xling_train_does_not_import_tensorflow(tiny_workdir, tmp_path):
    stub = tmp_path / "stub" / "tensorflow"
    stub.mkdir(parents=True)
    (stub / "__init__.py").write_text(_STUB)
    imports = tmp_path / "tf_imports.txt"
    path = os.pathsep.join(p for p in (str(tmp_path / "stub"), os.environ.get("PYTHONPATH")) if p)
    env = dict(os.environ, PYTHONPATH=path, XLING_TEST_TF_IMPORTS=str(imports), JAX_PLATFORMS="cpu")
    proc = subprocess.run([sys.executable, "-c", _TRAIN, TINY_CONFIG, tiny_workdir], env=env, capture_output=True,
                          text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "step 1:" in proc.stdout + proc.stderr and "dev_loss=" in proc.stdout + proc.stderr  # it trained
    assert not imports.exists(), imports.read_text()[-3000:]
    assert proc.stdout.splitlines()[-1] == "loaded: []"
