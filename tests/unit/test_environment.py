"""environment.yml (conda users) and requirements.txt (everyone else) pin the same versions."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]


def normalise(name: str) -> str:
    """PEP 503 name normalisation: Jupyter_Client, jupyter-client and jupyter.client are one package."""
    return re.sub(r"[-_.]+", "-", name).lower()


def parse_pins(lines, where: str) -> dict[str, str]:
    pins = {}
    for line in lines:
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        match = re.fullmatch(r"([A-Za-z0-9][A-Za-z0-9._-]*)==([^\s=<>!~,;]+)", line)
        assert match, f"{where}: {line!r} is not pinned as name==version"
        name = normalise(match.group(1))
        assert name not in pins, f"{where}: {name} is pinned twice"
        pins[name] = match.group(2)
    return pins


@pytest.fixture(scope="module")
def environment() -> dict:
    return yaml.safe_load((ROOT / "environment.yml").read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def conda_pip_pins(environment) -> dict[str, str]:
    pip_sections = [dep["pip"] for dep in environment["dependencies"] if isinstance(dep, dict) and "pip" in dep]
    assert len(pip_sections) == 1, "environment.yml needs exactly one pip: section"
    return parse_pins(pip_sections[0], "environment.yml pip section")


@pytest.fixture(scope="module")
def requirements() -> dict[str, str]:
    return parse_pins((ROOT / "requirements.txt").read_text(encoding="utf-8").splitlines(), "requirements.txt")


def test_environment_uses_python_3_11(environment):
    assert "python=3.11" in environment["dependencies"], "environment.yml must ask for python=3.11"


def test_every_conda_pin_matches_requirements(conda_pip_pins, requirements):
    assert conda_pip_pins, "environment.yml's pip section pins nothing"
    missing = sorted(set(conda_pip_pins) - set(requirements))
    assert not missing, f"pinned in environment.yml but not in requirements.txt: {missing}"
    differ = {
        name: (version, requirements[name])
        for name, version in conda_pip_pins.items()
        if requirements[name] != version
    }
    assert not differ, f"versions differ (environment.yml, requirements.txt): {differ}"


def test_torch_is_exactly_2_13_0_in_both(conda_pip_pins, requirements):
    # A range would let pip pick a multi-GB CUDA build; 2.13.0 is the CPU build we test.
    assert conda_pip_pins.get("torch") == "2.13.0", "environment.yml must pin torch==2.13.0"
    assert requirements.get("torch") == "2.13.0", "requirements.txt must pin torch==2.13.0"
