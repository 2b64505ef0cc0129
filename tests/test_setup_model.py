"""scripts/setup_model.py: a model split over packages is assembled in order and refused when its bytes are not
the pinned ones (no conversion, no network: fake part packages on sys.path)."""
from __future__ import annotations

import hashlib
import os
import importlib.util
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def setup_model():
    spec = importlib.util.spec_from_file_location("setup_model", ROOT / "scripts" / "setup_model.py")
    mod = importlib.util.module_from_spec(spec)
    sys.modules["setup_model"] = mod  # dataclasses look their module up
    spec.loader.exec_module(mod)
    return mod


@pytest.fixture
def parts(tmp_path, monkeypatch):
    """Two fake part packages, `fakepart_a` and `fakepart_b`, each with data/partNN.bin."""
    for i, (name, data) in enumerate((("fakepart_a", b"GGUF-head-"), ("fakepart_b", b"tail")), 1):
        pkg = tmp_path / name
        (pkg / "data").mkdir(parents=True)
        (pkg / "__init__.py").write_text("")
        (pkg / "data" / f"part{i:02d}.bin").write_bytes(data)
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setenv("PROVER_CACHE", str(tmp_path / "cache"))
    return (("fakepart_a", "data/part01.bin"), ("fakepart_b", "data/part02.bin"))


def test_parts_are_found_in_order_and_hashed_whole(setup_model, parts):
    spec = setup_model.ModelSpec("Fake", ("fakepart-a==1", "fakepart-b==1"), parts, "fake.gguf")
    paths = setup_model.find_parts(spec)
    assert [p.name for p in paths] == ["part01.bin", "part02.bin"]
    assert setup_model.digest_of(paths) == (hashlib.sha256(b"GGUF-head-tail").hexdigest(), 14)


def test_wrong_bytes_are_refused_before_conversion(setup_model, parts, capsys):
    pinned = hashlib.sha256(b"something else").hexdigest()
    spec = setup_model.ModelSpec("Fake", ("fakepart-a==1", "fakepart-b==1"), parts, "fake.gguf",
                                 sha256=pinned, size=14)
    with pytest.raises(SystemExit) as e:
        setup_model.setup(spec)
    assert pinned in str(e.value) and hashlib.sha256(b"GGUF-head-tail").hexdigest() in str(e.value)
    assert not (Path(os.environ["PROVER_CACHE"]) / "models" / "Fake").exists()


def test_every_bundled_model_pins_its_packages(setup_model):
    from prover.generate.models import DEFAULT_MODEL_NAME, SMALL_MODEL_NAME

    assert DEFAULT_MODEL_NAME in setup_model.MODELS and SMALL_MODEL_NAME in setup_model.MODELS
    for spec in setup_model.MODELS.values():
        assert len(spec.packages) == len(spec.parts) and all("==" in req for req in spec.packages)
        assert (spec.sha256 is None) == (spec.size is None)
