from dataclasses import dataclass
from typing import Literal

import pytest

from genforge.core.config import from_dict, parse_overrides, to_dict
from genforge.core.errors import GenforgeError


@dataclass
class Cfg:
    size: int = 32
    rate: float = 0.1
    kind: Literal["a", "b"] = "a"
    flag: bool = False
    dims: tuple[int, ...] = (1, 2)
    opt: float | None = None


def test_defaults_and_conversion():
    cfg = from_dict(Cfg, {"size": "64", "rate": 1, "flag": "yes", "dims": "3,4", "opt": "none"})
    assert cfg == Cfg(size=64, rate=1.0, flag=True, dims=(3, 4), opt=None)
    assert to_dict(cfg)["dims"] == [3, 4]


def test_unknown_key_lists_valid_keys():
    with pytest.raises(
        GenforgeError, match=r"unknown config key 'colour'.*valid keys: dims, flag, kind"
    ):
        from_dict(Cfg, {"colour": 1})


@pytest.mark.parametrize(
    ("values", "match"),
    [
        ({"kind": "c"}, "must be one of 'a', 'b'"),
        ({"size": "big"}, "must be int"),
        ({"size": 1.5}, "must be an integer"),
        ({"flag": "maybe"}, "true or false"),
    ],
)
def test_bad_values_name_the_key(values, match):
    with pytest.raises(GenforgeError, match=match):
        from_dict(Cfg, values)


def test_parse_overrides_yaml_scalars():
    assert parse_overrides(["beta=4", "name=x", "on=true", "dims=[1, 2]", "a-b=0.5"]) == {
        "beta": 4,
        "name": "x",
        "on": True,
        "dims": [1, 2],
        "a_b": 0.5,
    }
    with pytest.raises(GenforgeError, match="key=value"):
        parse_overrides(["novalue"])
