"""Image names: fully qualified for podman and kind, the local image found whatever the engine calls it,
and an image given with KIND_NODE_IMAGE judged by what it carries (kind's default CNI), not by its name."""

from __future__ import annotations

from pathlib import Path

import pytest

from cluster import imageref
from cluster.backends import kind
from cluster.errors import CkslabError
from cluster.nodeimage import build as nodeimage
from cluster.nodeimage import recipe
from cluster.versions import KIND_NODE_IMAGE

DIGEST = "sha256:" + "a" * 64


@pytest.mark.parametrize("given, expected", [
    ("kindest/node:v1.37.0", "docker.io/kindest/node:v1.37.0"),
    (f"kindest/node:v1.37.0@{DIGEST}", f"docker.io/kindest/node:v1.37.0@{DIGEST}"),
    (f"kindest/node@{DIGEST}", f"docker.io/kindest/node@{DIGEST}"),
    ("busybox", "docker.io/library/busybox"),
    ("busybox:1.36", "docker.io/library/busybox:1.36"),
    ("ckslab/node:v1.37.0", "docker.io/ckslab/node:v1.37.0"),
    ("localhost/ckslab/node:v1.37.0", "localhost/ckslab/node:v1.37.0"),
    ("localhost:5000/kindest/node:v1", "localhost:5000/kindest/node:v1"),
    ("registry.k8s.io/pause:3.10.2", "registry.k8s.io/pause:3.10.2"),
    ("docker.io/kindest/node:v1.37.0", "docker.io/kindest/node:v1.37.0"),
    (" quay.io/a/b ", "quay.io/a/b"),
])
def test_a_name_gets_the_registry_docker_would_give_it(given: str, expected: str) -> None:
    assert imageref.qualified(given) == expected
    assert imageref.qualified(expected) == expected  # qualifying twice changes nothing


@pytest.mark.parametrize("given", ["", "@sha256:00", "  "])
def test_no_name_is_a_value_error(given: str) -> None:
    with pytest.raises(ValueError):
        imageref.parse(given)


def test_every_name_ckslab_gives_an_engine_is_fully_qualified() -> None:
    assert imageref.has_registry(KIND_NODE_IMAGE.partition("@")[0]) and KIND_NODE_IMAGE.startswith("docker.io/")
    assert nodeimage.LOCAL_IMAGE == f"localhost/{recipe.IMAGE}"
    # what kind's podman provider would ask for (its sanitizeImage adds docker.io only to a name without one)
    for name in (KIND_NODE_IMAGE, nodeimage.LOCAL_IMAGE):
        assert imageref.qualified(name) == name


def test_a_short_name_is_looked_up_where_docker_and_podman_store_it() -> None:
    assert imageref.stored_names("ckslab/node:v1.37.0") == ["docker.io/ckslab/node:v1.37.0",
                                                            "localhost/ckslab/node:v1.37.0"]
    assert imageref.stored_names("localhost/ckslab/node:v1.37.0") == ["localhost/ckslab/node:v1.37.0"]
    assert imageref.stored_names(KIND_NODE_IMAGE) == [KIND_NODE_IMAGE]


@pytest.mark.parametrize("a, b, same", [
    (f"kindest/node:v1.37.0@{DIGEST}", f"docker.io/kindest/node@{DIGEST}", True),  # kind's podman run drops the tag
    (f"kindest/node:v1.37.0@{DIGEST}", "docker.io/kindest/node@sha256:" + "b" * 64, False),
    ("ckslab/node:v1.37.0", "docker.io/ckslab/node:v1.37.0", True),
    ("localhost/ckslab/node:v1.37.0", "docker.io/ckslab/node:v1.37.0", False),
    ("localhost/ckslab/node:v1.37.0", "localhost/ckslab/node:v1.36.0", False),
    ("busybox", "docker.io/library/busybox:latest", True),
])
def test_the_same_image_under_two_spellings(a: str, b: str, same: bool) -> None:
    assert imageref.same_image(a, b) is same


# --- choose_image on a fake engine: what it is asked, and what it concludes --------------------------

def _fake_engine(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, provider: str, stored: list[str],
                 has_cni: bool) -> Path:
    """A fake client that has the images ``stored`` (by these exact names) and records its calls.

    ``create`` makes a container of a stored image; ``cp`` of kind's CNI manifest out of it succeeds
    when ``has_cni``; nothing can be pulled.
    """
    client = tmp_path / provider
    names = " | ".join(stored) or "__none__"
    client.write_text(f"""#!/bin/sh
echo "$*" >> "$0.calls"
case "$1 $2" in
  "image inspect") case "$3" in {names}) exit 0;; *) echo "Error: {provider}: no such image" >&2; exit 1;; esac;;
  "info --format") echo 1;;
esac
case "$1" in
  create) case "$2" in {names}) echo 4f4f;; *) exit 125;; esac;;
  cp) [ "$2" = "4f4f:{kind.DEFAULT_CNI_MANIFEST}" ] && {'exit 0' if has_cni else 'exit 1'}; exit 1;;
  rm) exit 0;;
  pull) echo "Error: initializing source docker://$2: pinging container registry: no such host" >&2; exit 125;;
  *) echo "fake {provider}: unexpected $*" >&2; exit 99;;
esac
""")
    client.chmod(0o755)
    monkeypatch.setattr(kind, "engine", lambda: (provider, str(client)))
    return client


def _calls(client: Path) -> list[str]:
    return client.with_name(client.name + ".calls").read_text().splitlines()


def test_the_local_image_in_podman_is_found_as_podman_names_it_and_its_cni_looked_for(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    client = _fake_engine(tmp_path, monkeypatch, "podman", ["localhost/ckslab/node:v1.37.0"], has_cni=False)
    monkeypatch.setenv("KIND_NODE_IMAGE", "ckslab/node:v1.37.0")
    image, lacks_cni, why = kind.choose_image(lambda _m: None)
    assert (image, lacks_cni, why) == ("localhost/ckslab/node:v1.37.0", True, "KIND_NODE_IMAGE=ckslab/node:v1.37.0")
    called = _calls(client)
    assert "create localhost/ckslab/node:v1.37.0" in called
    assert f"cp 4f4f:{kind.DEFAULT_CNI_MANIFEST} -" in called and "rm -f -v 4f4f" in called
    for call in called:  # podman was never given a short name
        name = call.split()[-1] if call.startswith(("image inspect", "create", "pull")) else ""
        assert not name or imageref.has_registry(name), call


def test_an_image_carrying_kinds_cni_keeps_it_whatever_its_name(tmp_path: Path,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    """A node image of kind's own build, tagged like ours: judged by its content, not its name."""
    _fake_engine(tmp_path, monkeypatch, "docker", ["docker.io/ckslab/node:v1.37.0"], has_cni=True)
    monkeypatch.setenv("KIND_NODE_IMAGE", "ckslab/node:v1.37.0")
    assert kind.choose_image(lambda _m: None)[:2] == ("docker.io/ckslab/node:v1.37.0", False)


def test_an_image_without_kinds_cni_has_it_disabled_whatever_its_name(tmp_path: Path,
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    _fake_engine(tmp_path, monkeypatch, "docker", ["docker.io/someone/node:v1"], has_cni=False)
    monkeypatch.setenv("KIND_NODE_IMAGE", "someone/node:v1")
    assert kind.choose_image(lambda _m: None)[:2] == ("docker.io/someone/node:v1", True)


def test_an_absent_image_is_pulled_by_its_qualified_name_and_a_refusal_is_one_sentence(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    client = _fake_engine(tmp_path, monkeypatch, "podman", [], has_cni=True)
    monkeypatch.setenv("KIND_NODE_IMAGE", "kindest/node:v1.36.0")
    with pytest.raises(CkslabError) as raised:
        kind.choose_image(lambda _m: None)
    assert "pull docker.io/kindest/node:v1.36.0" in _calls(client)
    assert raised.value.message.startswith("KIND_NODE_IMAGE=kindest/node:v1.36.0 is neither present nor pullable: ")


def test_the_official_image_is_asked_for_with_its_registry(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("KIND_NODE_IMAGE", raising=False)
    client = _fake_engine(tmp_path, monkeypatch, "podman", [KIND_NODE_IMAGE], has_cni=True)
    assert kind.choose_image(lambda _m: None) == (KIND_NODE_IMAGE, False, "the official node image is present")
    assert _calls(client) == [f"image inspect {KIND_NODE_IMAGE}"]


def test_an_image_the_engine_cannot_open_is_one_sentence(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    client = _fake_engine(tmp_path, monkeypatch, "podman", ["localhost/broken:v1"], has_cni=False)
    client.write_text(client.read_text().replace("echo 4f4f", 'echo "Error: no space left on device" >&2; exit 125'))
    monkeypatch.setenv("KIND_NODE_IMAGE", "localhost/broken:v1")
    with pytest.raises(CkslabError) as raised:
        kind.choose_image(lambda _m: None)
    assert raised.value.message == "cannot look inside the node image localhost/broken:v1: Error: no space left on device."


@pytest.mark.parametrize("stored_as, label, found", [
    ("docker.io/ckslab/node:v1.37.0", "r1", "docker.io/ckslab/node:v1.37.0"),  # Docker: loaded as ckslab/node
    ("localhost/ckslab/node:v1.37.0", "r1", "localhost/ckslab/node:v1.37.0"),  # podman: loaded or built
    ("localhost/ckslab/node:v1.37.0", "r0", None),  # an older recipe's image: not this one
])
def test_the_built_image_is_recognised_by_its_recipe_label_under_the_engines_name(
        tmp_path: Path, stored_as: str, label: str, found: str | None) -> None:
    client = tmp_path / "engine"
    client.write_text(f'#!/bin/sh\necho "$*" >> "$0.calls"\n[ "$1 $2" = "image inspect" ] && [ "$5" = "{stored_as}" ] '
                      f'&& echo {label} && exit 0\nexit 1\n')
    client.chmod(0o755)
    assert nodeimage.present_as(str(client), "r1") == found
    assert all(imageref.has_registry(call.split()[-1]) for call in _calls(client))
