"""Every notebook in colab/ runs top to bottom (nbclient, on a kernel of this Python): a broken
notebook fails the suite. New notebooks are picked up by the glob."""
import glob
import os

import nbformat
import pytest
from ipykernel.kernelspec import write_kernel_spec
from nbclient import NotebookClient

COLAB = os.path.join(os.path.dirname(os.path.abspath(__file__)), os.pardir, "colab")
NOTEBOOKS = sorted(glob.glob(os.path.join(COLAB, "*.ipynb")))
KERNEL = "xling-tests"


@pytest.fixture(scope="module")
def this_python_kernel(tmp_path_factory):
    """A kernelspec that launches sys.executable, first on JUPYTER_PATH: the notebooks run in the
    environment under test, whatever `python3` kernels the machine has."""
    root = tmp_path_factory.mktemp("jupyter")
    write_kernel_spec(str(root / "kernels" / KERNEL))  # argv [sys.executable, -m, ipykernel_launcher, ...]
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("JUPYTER_PATH", str(root))
        # One persistent compilation cache for every kernel: runs of the same shapes (an ablation's
        # seeds, the notebooks' tiny models) compile once.
        mp.setenv("JAX_COMPILATION_CACHE_DIR", str(tmp_path_factory.mktemp("jax_cache")))
        mp.setenv("JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS", "0")
        yield KERNEL


def test_the_colab_notebooks_are_found():
    names = [os.path.basename(p) for p in NOTEBOOKS]
    assert {"quickstart.ipynb", "transfer.ipynb"} <= set(names), names


@pytest.mark.parametrize("path", NOTEBOOKS, ids=os.path.basename)
def test_notebook_runs_top_to_bottom(path, this_python_kernel, bible_data_dir, tmp_path):
    nb = nbformat.read(path, as_version=4)
    # The notebook's relative paths (runs/...) land in tmp_path; an error in any cell raises here.
    NotebookClient(nb, kernel_name=this_python_kernel, timeout=600,
                   resources={"metadata": {"path": str(tmp_path)}}).execute()
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert code and all(c.execution_count for c in code)
    assert not [o for c in code for o in c.outputs if o.output_type == "error"]
