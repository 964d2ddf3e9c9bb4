"""Registries (aliases, entry points, module:Class, did-you-mean) and file-name sanitising."""

from __future__ import annotations

from importlib import metadata
from pathlib import Path

import pytest

from codecbench.codecs import CODECS, Codec
from codecbench.paths import is_within, safe_component, safe_relative_path
from codecbench.registry import Registry, RegistryError


class Dummy:
    pass


def test_aliases_collisions_and_did_you_mean() -> None:
    reg: Registry[object] = Registry("widget", "codecbench.test-widgets")
    reg.register("alpha", Dummy, aliases=("a",))
    assert reg.get("a") is Dummy and reg.canonical("a") == "alpha"
    with pytest.raises(RegistryError, match="already registered"):
        reg.register("a", Dummy)
    with pytest.raises(RegistryError) as info:
        reg.get("alpah")
    assert "unknown widget 'alpah' (did you mean 'alpha'?)" in str(info.value)
    assert reg.get(f"{__name__}:Dummy") is Dummy
    with pytest.raises(RegistryError, match="has no attribute"):
        reg.get(f"{__name__}:Nope")
    with pytest.raises(RegistryError, match="cannot import module"):
        reg.get("no_such_module_xyz:Thing")


def test_third_party_entry_points_are_listed_and_loaded(monkeypatch: pytest.MonkeyPatch) -> None:
    ep = metadata.EntryPoint(name="mulaw_plugin", value="codecbench.codecs.identity:IdentityCodec",
                             group="codecbench.codecs")
    real = metadata.entry_points

    def fake(**kwargs):  # type: ignore[no-untyped-def]
        return [ep] if kwargs.get("group") == "codecbench.codecs" else real(**kwargs)

    monkeypatch.setattr(metadata, "entry_points", fake)
    reg: Registry[Codec] = Registry("codec", "codecbench.codecs")
    assert reg.names() == ["mulaw_plugin"]
    assert issubclass(reg.get("mulaw_plugin"), Codec)


def test_builtin_codecs_all_import() -> None:
    for name in CODECS.names():
        cls = CODECS.get(name)
        assert issubclass(cls, Codec) and cls.summary()


@pytest.mark.parametrize("name", ["../../etc/passwd", "a/b", "<script>", "", ".", "..", "x" * 300, "ok_name-1.2"])
def test_safe_component_is_a_plain_file_name(name: str) -> None:
    safe = safe_component(name)
    assert safe and safe not in (".", "..") and "/" not in safe and len(safe) <= 80
    assert all(c.isalnum() or c in "._-" for c in safe)
    if name == "ok_name-1.2":
        assert safe == name


def test_distinct_ids_never_collide() -> None:
    assert safe_component("a/b") != safe_component("a_b")
    assert safe_component("x y") != safe_component("x_y")


def test_safe_relative_path_cannot_escape(tmp_path: Path) -> None:
    for item in ["../../etc/passwd", "/abs/path", "a/../../b", "p360/p360_001_mic1"]:
        rel = safe_relative_path(item, ".wav")
        assert not rel.is_absolute() and ".." not in rel.parts
        assert is_within(tmp_path / rel, tmp_path)
    assert safe_relative_path("p360/p360_001_mic1", ".wav") == Path("p360/p360_001_mic1.wav")
    assert not is_within(tmp_path / ".." / "x", tmp_path)
