"""Debug images (ko's `--debug`), run in a real Docker daemon with a real Delve client attached.

`./pants --ko-debug package` builds an image whose binary has optimisations off, with Delve
(built from the Go module proxy) at `/ko-app/dlv` and ko's debug entrypoint. The docker archive
is loaded into the session's dockerd; `docker run --entrypoint=dlv <image> version` runs Delve;
the image's own entrypoint starts the program under a headless Delve, and a second Delve
(`dlv connect`, run inside the container with `docker exec`) sets a breakpoint in `main.main`,
continues, and stops there, reading a local variable only an unoptimised binary keeps.

No `--cap-add=SYS_PTRACE` nor `--security-opt seccomp=unconfined` is needed: Delve starts the
program as its own child, and Docker's default seccomp profile allows ptrace (kernel >= 4.8).
Attaching to a process Delve did not start would need SYS_PTRACE."""

from __future__ import annotations

import json
import time

import pytest

from tests.peers.image_tools import skopeo
from tests.peers.pants_repo import make_scratch_repo

pytestmark = pytest.mark.peers

MAIN_GO = """package main

import (
	"fmt"
	"os"
)

func greeting(name string) string {
	return "hello, " + name
}

func main() {
	answer := len(os.Args) + 41
	fmt.Println(greeting("debugger"), answer)
}
"""
DEBUG_ENTRYPOINT = [
    "/ko-app/dlv",
    "exec",
    "--listen=:40000",
    "--headless",
    "--log",
    "--accept-multiclient",
    "--api-version=2",
    "--",
    "/ko-app/app",
]


def image_config(layout, tag: str) -> dict:
    return json.loads(skopeo("inspect", "--config", "--raw", f"oci:{layout}:{tag}").stdout)


def container_logs(dockerd, container: str) -> str:
    logs = dockerd.docker("logs", container)
    return logs.stdout + logs.stderr


def test_debug_image_stops_at_a_breakpoint(tmp_path, dockerd):
    files = {
        "go.mod": "module example.com/debugapp\n\ngo 1.22\n",
        "cmd/app/main.go": MAIN_GO,
        "cmd/app/BUILD": (
            'ko_image(name="app", base_image="scratch", platforms=["linux/amd64"])\n'
            'ko_image(name="field", base_image="scratch", platforms=["linux/amd64"], debug=True)\n'
            'ko_image(name="normal", base_image="scratch", platforms=["linux/amd64"], debug=False)\n'
        ),
    }
    repo = make_scratch_repo(tmp_path / "repo", example=False, files=files)
    env = {"KO_DOCKER_REPO": "registry.example/team"}
    repo.pants("--ko-debug", "package", "cmd/app:app", "cmd/app:normal", env=env)
    repo.pants("package", "cmd/app:field", env=env)

    dist = repo.root / "dist/cmd.app"
    config = image_config(dist / "app", "latest-debug")
    assert config["config"]["Entrypoint"] == DEBUG_ENTRYPOINT
    assert [h["comment"] for h in config["history"]][-1] == "Delve debugger, at /ko-app/dlv"
    assert len(config["rootfs"]["diff_ids"]) == 3  # kodata, app, Delve
    # The option and the field make the same image; `debug=False` wins over the option.
    assert repo.image_metadata("cmd.app/field")["digest"] == repo.image_metadata("cmd.app/app")["digest"]
    assert image_config(dist / "normal", "latest")["config"]["Entrypoint"] == ["/ko-app/app"]
    # Debug tags never replace the normal image's.
    assert repo.image_metadata("cmd.app/app")["tags"] == ["latest-debug"]
    assert repo.image_metadata("cmd.app/normal")["tags"] == ["latest"]

    loaded = dockerd.docker("load", "-i", str(dist / "app.tar")).stdout
    image = loaded.strip().splitlines()[-1].split(": ", 1)[1]
    version = dockerd.docker("run", "--rm", "--network", "none", "--entrypoint=dlv", image, "version")
    assert "Version: 1.26.0" in version.stdout, version.stdout

    container = dockerd.docker("run", "-d", "--network", "none", image).stdout.strip()
    try:
        deadline = time.monotonic() + 60
        while "API server listening at: [::]:40000" not in container_logs(dockerd, container):
            assert time.monotonic() < deadline, container_logs(dockerd, container)
            time.sleep(0.5)
        script = "break main.main\ncontinue\nnext\nnext\nprint answer\nclearall\nexit -c\n"
        init = tmp_path / "init.dlv"
        init.write_text(script)
        dockerd.docker("cp", str(init), f"{container}:/init.dlv")
        session = dockerd.docker(
            "exec", container, "dlv", "connect", "127.0.0.1:40000", "--init", "/init.dlv", check=False
        )
        output = session.stdout + session.stderr
        assert session.returncode == 0, output
        assert "Breakpoint 1 set at" in output, output
        # Stopped at `func main()` (line 12), then two steps on to line 14.
        assert "> [Breakpoint 1] main.main() " in output, output
        assert "cmd/app/main.go:12 (hits goroutine(1):1 total:1)" in output, output
        assert "cmd/app/main.go:14 (PC: " in output, output
        assert "\n42\n" in output, output  # `answer`, kept by -gcflags=all=-N -l
        logs = ""
        deadline = time.monotonic() + 30
        while "hello, debugger 42" not in logs:
            assert time.monotonic() < deadline, logs
            time.sleep(0.5)
            logs = dockerd.docker("logs", container).stdout
    finally:
        dockerd.docker("rm", "-f", container, check=False)
