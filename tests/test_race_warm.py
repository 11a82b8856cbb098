"""Cold against warm in one race (issue 11): ``tpe,tpe+warm`` with ``--warm-start``."""

from __future__ import annotations

import pytest

from knobs.config import SearchConfig
from knobs.errors import ConfigError
from knobs.race import RaceSpec, contestant_label, split_contestant
from knobs.race._race import is_warm, parse_contestants


def test_warm_is_a_modifier_beside_the_pruner() -> None:
    assert parse_contestants("tpe,bayes+warm,random+median+warm") == (
        "tpe", "tpe+warm", "random+median+warm",
    )  # fmt: skip
    assert split_contestant("random+median+warm") == ("random", "median")
    assert is_warm("tpe+warm") and not is_warm("tpe+median")
    assert contestant_label("tpe+warm") == "TPE (warm)"
    with pytest.raises(ConfigError, match="more than one pruner"):
        parse_contestants("tpe+median+sh,random")


def test_only_warm_contestants_start_from_the_earlier_studies() -> None:
    config = SearchConfig(target="y", warm_start=("old",))
    spec = RaceSpec(config=config, contestants=("tpe", "tpe+warm"), seeds=1)
    assert spec.run_config("tpe", 0).warm_start == ()
    assert spec.run_config("tpe+warm", 1).warm_start == ("old",)
    # Without any `+warm` contestant, --warm-start warms every run.
    every = RaceSpec(config=config, contestants=("tpe", "random"), seeds=1)
    assert every.run_config("random", 0).warm_start == ("old",)


def test_a_warm_contestant_needs_studies_to_start_from() -> None:
    with pytest.raises(ConfigError, match="--warm-start"):
        RaceSpec(config=SearchConfig(target="y"), contestants=("tpe", "tpe+warm"), seeds=1)
