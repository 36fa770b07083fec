"""Local workflows: `pants run` of a ko_image runs its binary with `$KO_DATA_PATH`, and
`pants tailor` adds ko targets next to Go main packages and `ko://` YAML."""

from __future__ import annotations

from tests.peers.pants_repo import make_scratch_repo


def test_run_ko_image_runs_the_binary_with_its_kodata(tmp_path):
    repo = make_scratch_repo(tmp_path / "repo")
    result = repo.pants("run", "src/go/cmd/server", "--", "-once")
    assert "hello from server on linux/amd64" in result.stdout
    assert "kodata: message from kodata" in result.stdout


def test_tailor_adds_ko_image_ko_manifests_and_go_targets(tmp_path):
    repo = make_scratch_repo(tmp_path / "repo")
    (repo.root / "src/go/cmd/worker/BUILD").unlink()
    (repo.root / "src/config/BUILD").unlink()
    repo.write("src/go/cmd/tool/main.go", "// Command tool.\npackage main\n\nfunc main() {}\n")
    repo.write("src/go/internal/lib/lib.go", "package lib\n")
    repo.write("src/go/cmd/ignored/gen.go", "//go:build ignore\n\npackage main\n\nfunc main() {}\n")
    check = repo.pants("tailor", "--check", "::", check=False)
    assert check.returncode != 0
    repo.pants("tailor", "::")
    worker = (repo.root / "src/go/cmd/worker/BUILD").read_text()
    assert "ko_image()" in worker and 'ko_go_package(\n    name="pkg",\n)' in worker
    assert "ko_image()" in (repo.root / "src/go/cmd/tool/BUILD").read_text()
    assert 'ko_manifests(\n    name="apply",\n)' in (repo.root / "src/config/BUILD").read_text()
    # Every Go file is owned: a library gets a package target (named after its folder); a
    # folder whose only file is `//go:build ignore` gets one too, but no image.
    assert "ko_go_package()" in (repo.root / "src/go/internal/lib/BUILD").read_text()
    ignored = (repo.root / "src/go/cmd/ignored/BUILD").read_text()
    assert "ko_go_package()" in ignored and "ko_image" not in ignored
    assert "ko_image(" not in (repo.root / "src/go/cmd/server/BUILD").read_text().replace("ko_image(\n    name=\"server\"", "")
    # Idempotent: nothing more to add, and the new targets build.
    repo.pants("tailor", "--check", "::")
    repo.pants("package", "src/go/cmd/tool", "src/config:apply", "src/go::")


def test_kodata_symlinks_inside_the_repository_are_followed_and_leaving_it_is_refused(tmp_path):
    """ko (at HEAD) dereferences kodata symlinks and refuses those leaving the work tree."""
    outside = tmp_path / "outside.txt"
    outside.write_text("not for the image\n")
    repo = make_scratch_repo(tmp_path / "repo")
    kodata = repo.root / "src/go/cmd/server/kodata"
    (kodata / "inside.txt").symlink_to("../../../go.mod")
    (kodata / "leak.txt").symlink_to(outside)
    result = repo.pants("package", "src/go/cmd/server", check=False)
    assert result.returncode != 0
    assert "src/go/cmd/server/kodata/leak.txt" in result.stderr
    assert not (repo.root / "dist/src.go.cmd.server/server").exists()
    (kodata / "leak.txt").unlink()
    (kodata / "leak.txt").symlink_to("../../../../../../outside.txt")
    result = repo.pants("package", "src/go/cmd/server", check=False)
    assert result.returncode != 0 and "outside of the buildroot" in result.stderr
    (kodata / "leak.txt").unlink()
    repo.pants("run", "src/go/cmd/server", "--", "-once")  # builds; the in-repo link is a file
    result = repo.pants("package", "src/go/cmd/server")
    layout = repo.root / "dist/src.go.cmd.server/server"
    assert layout.exists()
