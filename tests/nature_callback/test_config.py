"""NatureConfig: every parameter checked at construction, errors naming the parameter."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from nature_callback import NatureConfig, NatureTracker
from nature_callback.exceptions import ConfigurationError


@pytest.mark.parametrize(("kwargs", "name"), [
    ({"pue": 0.9}, "pue"),
    ({"pue": float("nan")}, "pue"),
    ({"pue": 1e308}, "pue"),
    ({"pue": True}, "pue"),
    ({"pue": "1.2"}, "pue"),
    ({"grid_loss": 1.0}, "grid_loss"),
    ({"grid_loss": -0.1}, "grid_loss"),
    ({"n_exp": 0}, "n_exp"),
    ({"n_exp": 1.5}, "n_exp"),
    ({"n_exp": True}, "n_exp"),
    ({"n_exp": 10**400}, "n_exp"),
    ({"n_exp": "all"}, "n_exp"),
    ({"extra_energy_j": -1.0}, "extra_energy_j"),
    ({"extra_energy_j": True}, "extra_energy_j"),
    ({"extra_energy_j": float("inf")}, "extra_energy_j"),
    ({"planned_epochs": 0}, "planned_epochs"),
    ({"planned_epochs": 2.0}, "planned_epochs"),
    ({"project": ""}, "project"),
    ({"project": 3}, "project"),
    ({"cpu_tdp_w": 0.0}, "cpu_tdp_w"),
    ({"cpu_tdp_w": float("inf")}, "cpu_tdp_w"),
    ({"sample_interval_s": True}, "sample_interval_s"),
    ({"sample_interval_s": 0.0}, "sample_interval_s"),
    ({"output_dir": 123}, "output_dir"),
    ({"output_dir": ""}, "output_dir"),
    ({"ledger_path": True}, "ledger_path"),
    ({"ledger_path": ""}, "ledger_path"),
])
def test_invalid_values_raise_at_construction_naming_the_parameter(
    kwargs: dict[str, object], name: str,
) -> None:
    with pytest.raises(ConfigurationError, match=name):
        NatureConfig(**kwargs)  # type: ignore[arg-type]
    with pytest.raises(ConfigurationError, match=name):  # the tracker checks through it
        NatureTracker(**kwargs)  # type: ignore[arg-type]


def test_numpy_scalars_are_accepted_as_plain_numbers() -> None:
    config = NatureConfig(pue=np.float32(1.25), grid_loss=np.float64(0.05), n_exp=np.int64(3),
                          extra_energy_j=np.float64(10.0), planned_epochs=np.int32(4))
    assert config.pue == pytest.approx(1.25) and type(config.pue) is float
    assert config.n_exp == 3 and type(config.n_exp) is int
    assert type(config.planned_epochs) is int
    assert config.to_dict()["grid_loss"] == pytest.approx(0.05)


def test_paths_become_paths_and_the_dict_view_holds_strings(tmp_path: Path) -> None:
    config = NatureConfig(output_dir=str(tmp_path), ledger_path=tmp_path / "l.sqlite",
                          n_exp="ledger")
    assert config.output_dir == tmp_path and isinstance(config.ledger_path, Path)
    assert config.to_dict()["ledger_path"] == str(tmp_path / "l.sqlite")
    assert NatureConfig(ledger_path=False).ledger_path is False
    assert NatureConfig().n_exp == 1
