"""The backend as a plugin wheel: `pants package pants-plugins:dist` builds it, and a fresh
repository that only lists it in `[GLOBAL].plugins` builds the same image as this repository."""

from __future__ import annotations

import shutil

from tests.peers.pants_repo import REPO_ROOT, ScratchRepo, make_scratch_repo

FRESH_PANTS_TOML = """\
[GLOBAL]
pants_version = "2.17.1"
backend_packages = ["pants_backend_ko"]
plugins = ["pants-backend-ko @ file://{wheel}"]

[anonymous-telemetry]
enabled = false

[ko]
default_base_image = "scratch"
docker_repo = "localhost:5000/example"
"""


def test_wheel_installs_into_a_fresh_repository_and_builds_an_image(tmp_path):
    builder = make_scratch_repo(tmp_path / "builder")
    shutil.copy2(REPO_ROOT / "pants-plugins/BUILD", builder.root / "pants-plugins/BUILD")
    shutil.copy2(REPO_ROOT / "3rdparty/python/BUILD", builder.root / "3rdparty/python/BUILD")
    # That BUILD also owns the test requirements and the type stubs (for the code checks): their
    # files must exist.
    for extra in ("test-requirements.txt", "type-stubs.txt"):
        shutil.copy2(REPO_ROOT / "3rdparty/python" / extra, builder.root / "3rdparty/python/")
    builder.pants("package", "pants-plugins:dist", "src/go/cmd/worker")
    wheels = list((builder.root / "dist").glob("pants_backend_ko-*-py3-none-any.whl"))
    assert len(wheels) == 1, list((builder.root / "dist").iterdir())
    wheel = tmp_path / wheels[0].name
    shutil.copy2(wheels[0], wheel)
    # The wheel holds the backend and its pure core, not the tests.
    import zipfile

    names = zipfile.ZipFile(wheel).namelist()
    assert "pants_backend_ko/register.py" in names and "pants_backend_ko/oci/layers.py" in names
    # The Go layer writer's source: the fresh repository below compiles it with its own Go.
    assert "pants_backend_ko/_golayer/main.go" in names
    assert not [n for n in names if n.endswith("_test.py")]

    fresh = ScratchRepo(tmp_path / "fresh")
    fresh.root.mkdir()
    shutil.copy2(REPO_ROOT / "pants", fresh.root / "pants")
    (fresh.root / "pants.toml").write_text(FRESH_PANTS_TOML.format(wheel=wheel))
    (fresh.root / "BUILD").write_text("")
    shutil.copytree(REPO_ROOT / "src/go", fresh.root / "src/go")
    fresh.pants("package", "src/go/cmd/worker", timeout=1500)
    assert (
        fresh.image_metadata("src.go.cmd.worker/worker")["digest"]
        == builder.image_metadata("src.go.cmd.worker/worker")["digest"]
    )
