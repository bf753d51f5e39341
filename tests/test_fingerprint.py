"""The first 50 losses of the default translation config and of the classification experiment equal the
recorded ones (tests/fingerprint.py): bit for bit on the machine and jax version that recorded them,
within float noise elsewhere (another CPU's kernels sum in another order)."""
import json

import fingerprint
import numpy as np
import pytest


@pytest.fixture(scope="module")
def recorded():
    with open(fingerprint.FILE, encoding="utf-8") as f:
        return json.load(f)


@pytest.mark.parametrize("name", list(fingerprint.RUNS))
def test_first_50_losses_match_the_fingerprint(name, recorded, tmp_path, bible_data_dir):
    want = [float.fromhex(x) for x in recorded["losses"][name]]
    got = fingerprint.RUNS[name](str(tmp_path / "run"))
    if recorded["machine"] == fingerprint.machine():
        assert got == want, f"first differing step: {next(i + 1 for i, (a, b) in enumerate(zip(got, want)) if a != b)}"
    else:
        np.testing.assert_allclose(got, want, rtol=2e-3)
