"""Config loading and overrides keep types and reject unknown keys."""
import pytest

from xling_jax.configs import loading
from xling_jax.errors import UserError


def test_default_config_has_contract_keys():
    c = loading.load_config_file(None)
    for key in ("seed", "train.steps", "train.batch_size", "model.num_layers", "model.emb_dim", "checkpoint_every"):
        assert key in loading.all_keys(c)


def test_overrides_keep_types():
    c = loading.load_config_file(None)
    loading.apply_overrides(c, {"train.steps": "12", "train.learning_rate": "1", "model.pre_ln": "false",
                                "data.directions": "en-es", "model.positions": "learned"})
    assert c.train.steps == 12 and isinstance(c.train.learning_rate, float) and c.model.pre_ln is False
    assert c.data.directions == ("en-es",) and c.model.positions == "learned"


@pytest.mark.parametrize("key, value", [("train.steps", "1.5"), ("model.pre_ln", "maybe"), ("train.lr", "1")])
def test_bad_overrides(key, value):
    with pytest.raises(UserError):
        loading.apply_overrides(loading.load_config_file(None), {key: value})


def test_json_round_trip():
    c = loading.load_config_file(None)
    assert loading.from_json(loading.to_json(c)).to_dict() == c.to_dict()
