"""A TFDS catalog translation dataset through the registry and the grain pipeline, offline: the
catalog builder's metadata as a prepared copy would hold it, its records from TFDS's own
`tfds.testing.mock_data` (which reads no files and needs no TensorFlow on the `as_data_source`
path); and the one-line error where such a dataset is neither prepared nor downloadable."""
import os
import sys

import plans
import tensorflow_datasets as tfds
from conftest import tiny_data_config
from tensorflow_datasets.testing import mocking

from xling_jax.cli.main import main
from xling_jax.data import catalog, mixture, pipeline
from xling_jax.data import plan as data_plan
from xling_jax.training.train import setup_tokenizer

REF = "ted_hrlr_translate/pt_to_en"
SPLITS = {"train": 40, "validation": 8, "test": 8}


def _getitems(*args, generator, serialized=False):
    """TFDS 4.9's mock assigns its batched read to a MagicMock attribute, where it is not bound to
    the source (calls fail with a missing argument); the record keys are the last argument either way."""
    assert not serialized
    return [generator[k] for k in args[-1]]


def _prepared_metadata(ref: str, data_dir: str) -> str:
    """DATA_DIR/REF/VERSION with the catalog builder's dataset_info.json and features.json and the
    split sizes: what a prepared copy holds besides its record files."""
    builder = catalog._tfds_builder(ref, data_dir)
    template = lambda split: tfds.core.ShardedFileTemplate(data_dir=builder.data_dir, dataset_name=builder.name,
                                                           split=split, filetype_suffix="array_record")
    builder.info.set_splits(tfds.core.SplitDict([
        tfds.core.SplitInfo(name=s, shard_lengths=[n], num_bytes=0, filename_template=template(s))
        for s, n in SPLITS.items()]))
    os.makedirs(builder.data_dir)
    builder.info.write_to_directory(builder.data_dir)
    return builder.data_dir


def _clean(text: str) -> str:
    return " ".join(text.split())  # sentencepiece folds runs of spaces and strips the ends


def test_catalog_dataset_through_registry_and_pipeline(tmp_path, monkeypatch):
    data_dir = str(tmp_path / "data")
    version_dir = _prepared_metadata(REF, data_dir)
    monkeypatch.setattr(mocking, "_getitems", _getitems)
    config = tiny_data_config(name=REF, directions=("pt-en", "en-pt"), data_dir=data_dir)
    config.tokenizer.vocab_size = 300  # the mocked text has 10 letters
    # USE_FILES with the version folder: mock_data hands it to every builder as its data_dir, which is
    # what builder_from_directory (the registry's reader) needs to find the metadata.
    with tfds.testing.mock_data(num_examples=SPLITS["train"], policy=tfds.testing.MockPolicy.USE_FILES,
                                data_dir=version_dir):
        assert mixture.ensure_built(config.data) == data_dir  # prepared: nothing to download
        ds = catalog.open_dataset(REF, data_dir)
        assert ds.languages == ("en", "pt") and ds.splits == SPLITS and ds.split_name("dev") == "validation"
        records = [ds.source("train")[i] for i in range(SPLITS["train"])]
        assert len({r["pt"] for r in records}) == len(records)  # distinct mocked texts identify their record
        pairs = {(_clean(r["pt"]), _clean(r["en"])) for r in records}
        dirs = mixture.directions(config.data, data_dir)
        assert [(d.dataset, d.src, d.tgt) for d in dirs] == [(REF, "pt", "en"), (REF, "en", "pt")]

        tok = setup_tokenizer(config, str(tmp_path), data_plan.resolve(config.data, data_dir))
        assert set(tok.languages()) == {"en", "pt"}
        tags = {tok.tag_id("en"): "en", tok.tag_id("pt"): "pt"}
        it = iter(plans.batches(config, tok, data_dir))
        seen = {"en": 0, "pt": 0}
        for _ in range(4):
            batch = next(it)
            for row in range(len(batch["inputs"])):
                src_seg, tgt_seg = batch["inputs_segment_ids"][row], batch["targets_segment_ids"][row]
                for s in set(src_seg[src_seg > 0].tolist()):
                    src, tgt = batch["inputs"][row][src_seg == s], batch["targets"][row][tgt_seg == s]
                    tgt_lang = tags[int(src[0])]  # the target tag leads the source
                    assert src[-1] == tgt[-1] == tok.eos_id
                    text_src, text_tgt = tok.decode(src[1:-1]), tok.decode(tgt[:-1])
                    pair = (text_tgt, text_src) if tgt_lang == "pt" else (text_src, text_tgt)
                    assert pair in pairs, (tgt_lang, text_src, text_tgt)
                    seen[tgt_lang] += 1
        assert min(seen.values()) > 0, seen  # both directions are sampled

        # Dev batches: the validation split in record order, each direction with its own target tag.
        for d in dirs:
            first = next(pipeline.eval_batches(tok, d, data_dir, "dev", batch_size=config.train.batch_size,
                                               max_len=config.data.max_len))
            src = first["inputs"][0][first["inputs_segment_ids"][0] > 0]
            tgt = first["targets"][0][first["targets_segment_ids"][0] > 0]
            assert tags[int(src[0])] == d.tgt
            assert (tok.decode(src[1:-1]), tok.decode(tgt[:-1])) == (_clean(records[0][d.src]),
                                                                      _clean(records[0][d.tgt]))
    assert "tensorflow" not in sys.modules


def _one_line_error(capsys) -> str:
    err = capsys.readouterr().err.strip()
    assert err.startswith("xling: error: ") and "\n" not in err, err
    return err


def test_catalog_dataset_neither_prepared_nor_downloadable(tmp_path, capsys, monkeypatch):
    """Offline (made so here, whatever the machine's network) and with no prepared copy: one line
    naming both ways in (a prepared copy under --data_dir, the archives in --manual_dir), at once."""
    monkeypatch.setattr(catalog, "_reachable", lambda *a, **k: False)
    data_dir = str(tmp_path / "data")
    assert main(["data", "build", REF, "--data_dir", data_dir]) == 2
    err = _one_line_error(capsys)
    assert f"cannot download {REF}: no internet connection" in err
    assert "--data_dir" in err and "--manual_dir" in err and f"{data_dir}/{REF}" in err

    # xling train names the same ways in before it builds or compiles anything.
    assert main(["train", "--workdir", str(tmp_path / "run"), f"--config.data.name={REF}",
                 "--config.data.directions=pt-en", f"--config.data.data_dir={data_dir}"]) == 2
    err = _one_line_error(capsys)
    assert f"dataset {REF} is not built in {data_dir}" in err
    assert "--data_dir" in err and "--manual_dir" in err and f"xling data build {REF}" in err

    # A --manual_dir that is not there is said at once, not after TFDS has tried the downloads.
    missing = str(tmp_path / "archives")
    assert main(["data", "build", REF, "--data_dir", data_dir, "--manual_dir", missing]) == 2
    assert f"--manual_dir {missing} is not a folder" in _one_line_error(capsys)
    assert not catalog.is_built(REF, data_dir)

    # A name in neither the local builders nor the catalog.
    assert main(["data", "build", "no_such_translate/de-en", "--data_dir", data_dir]) == 2
    assert "unknown dataset 'no_such_translate/de-en'" in _one_line_error(capsys)
