"""The benchmark's generated Go monorepo: N small `package main` images sharing library
packages and one third-party module, each with kodata, plus one big (~50 MB) binary.

The same folder is a Pants repository (this checkout's launcher and plugin, via
`tests/peers/pants_repo.make_scratch_repo`) and a plain Go module that `ko` builds, so both
tools see the very same sources. Edits (`edit_library`, `edit_binary`) write a new unique
string each time, so every round really changes the compiled code.
"""

from __future__ import annotations

import os
import random
from dataclasses import dataclass
from pathlib import Path

from tests.peers.pants_repo import REPO_ROOT, make_scratch_repo

MODULE = "example.com/bench"
# One third-party module, fetched through the Go module proxy (go.sum pins it).
GO_MOD = f"""module {MODULE}

go 1.22

require github.com/google/uuid v1.6.0
"""
BIG_DATA_BYTES = 46 * 1024 * 1024  # plus ~2 MB of code: a ~48 MB binary


@dataclass(frozen=True)
class Monorepo:
    root: Path  # the Pants repository; the Go module is root/src/go
    binaries: int  # N small images (app0 .. app{N-1}); `big` comes on top

    @property
    def module_dir(self) -> Path:
        return self.root / "src/go"

    @property
    def manifests(self) -> Path:
        return self.root / "src/config/deploy.yaml"

    @property
    def import_paths(self) -> list:
        return [f"{MODULE}/cmd/app{i}" for i in range(self.binaries)] + [f"{MODULE}/cmd/big"]

    @property
    def package_dirs(self) -> list:
        """`./cmd/...` paths relative to the module, as `ko build` takes them."""
        return [f"./cmd/app{i}" for i in range(self.binaries)] + ["./cmd/big"]

    def edit_library(self, stamp: str) -> None:
        """Change the shared library every image imports: all images change."""
        (self.module_dir / "internal/shared/stamp.go").write_text(
            f'package shared\n\n// Stamp changes on every edit of the benchmark.\nconst Stamp = "{stamp}"\n'
        )

    def edit_binary(self, stamp: str, index: int = 0) -> None:
        """Change one small binary's own package: exactly one image changes."""
        (self.module_dir / f"cmd/app{index}/stamp.go").write_text(
            f'package main\n\nconst localStamp = "{stamp}"\n'
        )


def _shared_go() -> str:
    return f"""// Package shared is imported by every benchmark binary.
package shared

import (
	"fmt"
	"strings"

	"github.com/google/uuid"
)

// Banner is what each binary prints first.
func Banner(name string) string {{
	id := uuid.NewSHA1(uuid.NameSpaceURL, []byte("{MODULE}/"+name))
	return fmt.Sprintf("%s %s (%s)", strings.ToUpper(name), id, Stamp)
}}
"""


def _util_go(funcs: int = 60) -> str:
    # Some real code to compile, so a library edit costs more than a trivial package.
    body = ["// Package util is a second shared library with some weight.", "package util", "", 'import "sort"', ""]
    for i in range(funcs):
        body.append(
            f"func Sum{i}(xs []int) int {{ s := {i}; ys := append([]int(nil), xs...); sort.Ints(ys); "
            f"for j, x := range ys {{ if j%{i % 7 + 2} == 0 {{ s += x * {i + 1} }} else {{ s -= x }} }}; return s }}"
        )
    return "\n".join(body) + "\n"


def _app_main(i: int) -> str:
    return f"""package main

import (
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"

	"{MODULE}/internal/shared"
	"{MODULE}/internal/util"
)

func main() {{
	fmt.Println(shared.Banner("app{i}"), localStamp, util.Sum{i % 60}([]int{{3, 1, 2}}))
	page, _ := os.ReadFile(filepath.Join(os.Getenv("KO_DATA_PATH"), "index.html"))
	if len(os.Args) > 1 && os.Args[1] == "serve" {{
		http.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {{
			_ = json.NewEncoder(w).Encode(map[string]string{{"page": string(page)}})
		}})
		_ = http.ListenAndServe(":8080", nil)
	}}
}}
"""


def _big_main() -> str:
    return f"""package main

import (
	_ "embed"
	"crypto/sha256"
	"fmt"

	"{MODULE}/internal/shared"
)

// A large generated table, as big binaries carry (assets, generated data).
//go:embed table.bin
var table []byte

func main() {{
	fmt.Println(shared.Banner("big"), len(table), fmt.Sprintf("%x", sha256.Sum256(table)))
}}
"""


def _manifests(import_paths: list) -> str:
    docs = []
    for ip in import_paths:
        name = ip.rsplit("/", 1)[-1]
        docs.append(
            f"""apiVersion: apps/v1
kind: Deployment
metadata:
  name: bench-{name}
  labels:
    app: bench-{name}
spec:
  replicas: 1
  selector:
    matchLabels:
      app: bench-{name}
  template:
    metadata:
      labels:
        app: bench-{name}
    spec:
      containers:
        - name: {name}
          image: ko://{ip}
"""
        )
    return "---\n".join(docs)


def user_like_pants_toml(root: Path) -> None:
    """The repository Pants is measured in is a Go monorepo as a ko user has it: only this
    backend. This checkout also enables `pants.backend.python` and its linters (to build the
    plugin's wheel and check its code), whose rules cost every Pants start without pantsd ~4 s
    of rule-graph building here."""
    toml = (root / "pants.toml").read_text()
    # The Python backend and its linters (black, ruff: they check the plugin's own code).
    python_backends = ('  "pants.backend.python"', '  "pants.backend.python.', '  "pants.backend.experimental.python.')
    if not any(line.startswith(python_backends[0]) for line in toml.splitlines()):
        raise SystemExit("bench: pants.toml no longer lists pants.backend.python as expected; update bench/monorepo.py")
    # Sections of the Python backend's subsystems would be unknown scopes without it.
    kept, skip = [], False
    for line in toml.splitlines(keepends=True):
        if line.startswith("["):
            skip = line.strip() in ("[python]", "[python-infer]", "[black]", "[ruff]")
        if not skip and not line.startswith(python_backends):
            kept.append(line)
    # The plugin's own BUILD files need the Python backend: out of Pants' view (its code is still
    # imported through `pythonpath`), as a plugin installed from its wheel would be.
    toml = "".join(kept).replace('pants_ignore.add = [', 'pants_ignore.add = ["/pants-plugins/", ', 1)
    if '"/pants-plugins/"' not in toml:
        raise SystemExit("bench: pants.toml has no pants_ignore.add list as expected; update bench/monorepo.py")
    (root / "pants.toml").write_text(toml)


def generate(dest: Path, binaries: int, seed: int = 6) -> Monorepo:
    """Write the monorepo at `dest` (a fresh folder) and return it."""
    files = {
        "src/go/go.mod": GO_MOD,
        "src/go/go.sum": (REPO_ROOT / "src/go/go.sum").read_text(),
        "src/go/internal/shared/shared.go": _shared_go(),
        "src/go/internal/util/util.go": _util_go(),
        "src/go/cmd/big/main.go": _big_main(),
        "src/go/cmd/big/BUILD": 'ko_image(name="big")\n',
        "src/config/BUILD": 'ko_manifests(name="apply")\n',
    }
    for i in range(binaries):
        files[f"src/go/cmd/app{i}/main.go"] = _app_main(i)
        files[f"src/go/cmd/app{i}/BUILD"] = f'ko_image(name="app{i}")\n'
        files[f"src/go/cmd/app{i}/kodata/index.html"] = f"<h1>app{i}</h1>\n"
        files[f"src/go/cmd/app{i}/kodata/static/app.css"] = "body { font-family: sans-serif; }\n" * 50
    repo = make_scratch_repo(dest, example=False, files=files)
    user_like_pants_toml(repo.root)
    mono = Monorepo(repo.root, binaries)
    mono.edit_library("initial")
    for i in range(binaries):
        mono.edit_binary("initial", i)
    # Incompressible on purpose: the big layer costs real gzip and upload work for both tools.
    rng = random.Random(seed)
    with open(mono.module_dir / "cmd/big/table.bin", "wb") as f:
        left = BIG_DATA_BYTES
        while left:
            chunk = min(left, 1 << 20)
            f.write(rng.getrandbits(chunk * 8).to_bytes(chunk, "little"))
            left -= chunk
    mono.manifests.write_text(_manifests(mono.import_paths))
    os.chmod(mono.root / "pants", 0o755)
    return mono
