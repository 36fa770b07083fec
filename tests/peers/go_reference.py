"""Reference outputs from real Go code, for byte-for-byte tests of the pure OCI core.

ko's bytes come from Go: `archive/tar` writes its layers, `encoding/json` its JSON, and
go-containerregistry ("ggcr") v0.21.9 (the version ko's HEAD pins) its configs, manifests
and indexes. Instead of trusting hand-copied expectations, tests ask Go itself:

- `go_tar(entries)`: a tar written by `archive/tar` with ko's exact header fields
  (`tar.Header{Name, Typeflag, Mode: 0555, Size, ModTime}`, as in ko's `tarBinary`,
  `writeDirToTar` and `writeFileToTar`);
- `go_json(cases)`: `json.Marshal` of strings (raw bytes), float64s and decoded JSON values;
- `ggcr(request)`: ggcr decoding/encoding of configs and manifests, and ko's `buildOne`
  steps (annotations, `mutate.Append`, config edits, `mutate.ConfigFile`) and `buildAll`'s
  index, fed with layer blobs produced by our Python code; and the blob ko makes of a layer
  tar (`tarball.LayerFromOpener`, as ko's `buildLayer`);
- `ko_binary()`: the real `ko` CLI (v0.19.1), `go install`ed from the module proxy once.

The stdlib programs build offline (`GOPROXY=off`). The ggcr program needs four modules from
the Go module proxy the first time (go.sum below pins them), ko about 150; all Go state lives in the peers
cache folder (`$PANTS_KO_PEERS_CACHE`, default `~/.cache/pants-backend-ko/peers`), like
`build_kube.sh`. Binaries are built once per source hash; every call has a timeout.
"""

from __future__ import annotations

import base64
import fcntl
import hashlib
import json
import os
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import Any, Mapping, Sequence

BUILD_TIMEOUT = 900  # a cold module download plus compile on 2 cores
RUN_TIMEOUT = 120


def cache_root() -> Path:
    root = os.environ.get("PANTS_KO_PEERS_CACHE") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "pants-backend-ko", "peers"
    )
    path = Path(root)
    path.mkdir(parents=True, exist_ok=True)
    return path


def go_env(*, offline: bool) -> dict[str, str]:
    """Environment for `go`: private GOPATH/GOCACHE under the cache root, no toolchain download."""
    root = cache_root()
    env = dict(os.environ)
    env.update(
        GOPATH=str(root / "go"),
        GOMODCACHE=str(root / "go" / "pkg" / "mod"),
        GOCACHE=str(root / "go-build"),
        GOTOOLCHAIN="local",
        GOFLAGS="-mod=mod -buildvcs=false",
        CGO_ENABLED="0",
        GOWORK="off",
        TZ="UTC",  # ko formats epochs in the local zone; the reference uses UTC like we do
    )
    if offline:
        env["GOPROXY"] = "off"
    return env


def _build(name: str, files: Mapping[str, str], *, offline: bool) -> Path:
    """Build a Go program once (keyed by its sources) and return the binary path."""
    key = hashlib.sha256(json.dumps(sorted(files.items())).encode()).hexdigest()[:16]
    out_dir = cache_root() / "go-reference" / f"{name}-{key}"
    binary = out_dir / name
    if binary.is_file():
        return binary
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    with open(out_dir.parent / f".{name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # one builder at a time; others then find the binary
        if binary.is_file():
            return binary
        with tempfile.TemporaryDirectory(dir=out_dir.parent) as work:
            for rel, text in files.items():
                Path(work, rel).write_text(text)
            result = subprocess.run(
                ["go", "build", "-trimpath", "-o", str(Path(work, name)), "."],
                cwd=work,
                env=go_env(offline=offline),
                capture_output=True,
                text=True,
                timeout=BUILD_TIMEOUT,
            )
            if result.returncode != 0:
                raise RuntimeError(f"building the Go reference program {name} failed:\n{result.stderr[-4000:]}")
            out_dir.mkdir(exist_ok=True)
            shutil.move(str(Path(work, name)), str(binary))
    return binary


def _run(binary: Path, stdin: bytes) -> bytes:
    result = subprocess.run(
        [str(binary)], input=stdin, capture_output=True, timeout=RUN_TIMEOUT, env=go_env(offline=True)
    )
    if result.returncode != 0:
        raise RuntimeError(f"{binary.name} failed ({result.returncode}): {result.stderr.decode(errors='replace')[-4000:]}")
    return result.stdout


# --------------------------------------------------------------------------- archive/tar

_TAR_MAIN = r"""
// Writes a tar with ko's header fields for each entry read from stdin (JSON).
package main

import (
	"archive/tar"
	"encoding/json"
	"os"
	"time"
)

type entry struct {
	Name  string `json:"name"`
	Dir   bool   `json:"dir"`
	Data  []byte `json:"data"`
	MTime *int64 `json:"mtime"`
	PAX   bool   `json:"empty_pax_records"`
}

func main() {
	var entries []entry
	if err := json.NewDecoder(os.Stdin).Decode(&entries); err != nil {
		panic(err)
	}
	tw := tar.NewWriter(os.Stdout)
	for _, e := range entries {
		var mtime time.Time // ko's zero v1.Time when no epoch is set
		if e.MTime != nil {
			mtime = time.Unix(*e.MTime, 0)
		}
		hdr := &tar.Header{Name: e.Name, Mode: 0555, ModTime: mtime}
		if e.Dir {
			hdr.Typeflag = tar.TypeDir
		} else {
			hdr.Typeflag = tar.TypeReg
			hdr.Size = int64(len(e.Data))
		}
		if e.PAX {
			hdr.PAXRecords = map[string]string{} // as ko's tarBinary does
		}
		if err := tw.WriteHeader(hdr); err != nil {
			panic(err)
		}
		if !e.Dir {
			if _, err := tw.Write(e.Data); err != nil {
				panic(err)
			}
		}
	}
	if err := tw.Close(); err != nil {
		panic(err)
	}
}
"""


def go_tar(entries: Sequence[Mapping[str, Any]]) -> bytes:
    """Go's archive/tar output for entries {name, dir, data (bytes), mtime (int|None), empty_pax_records}."""
    binary = _build("tarref", {"go.mod": "module example.com/tarref\n\ngo 1.22\n", "main.go": _TAR_MAIN}, offline=True)
    payload = [
        {
            "name": e["name"],
            "dir": bool(e.get("dir")),
            "data": base64.b64encode(e.get("data", b"")).decode(),
            "mtime": e.get("mtime"),
            "empty_pax_records": bool(e.get("empty_pax_records")),
        }
        for e in entries
    ]
    return _run(binary, json.dumps(payload).encode())


# --------------------------------------------------------------------------- encoding/json

_JSON_MAIN = r"""
// json.Marshal of each case read from stdin: raw string bytes, float64 bits, or a JSON value.
package main

import (
	"encoding/json"
	"math"
	"os"
	"strconv"
)

type jsonCase struct {
	String []byte `json:"string"`
	Float  string `json:"float_bits"`
	JSON   string `json:"json"`
	Kind   string `json:"kind"`
}

func main() {
	var cases []jsonCase
	if err := json.NewDecoder(os.Stdin).Decode(&cases); err != nil {
		panic(err)
	}
	var out []string
	for _, c := range cases {
		var v any
		switch c.Kind {
		case "string":
			v = string(c.String)
		case "float":
			bits, err := strconv.ParseUint(c.Float, 16, 64)
			if err != nil {
				panic(err)
			}
			v = math.Float64frombits(bits)
		case "json":
			if err := json.Unmarshal([]byte(c.JSON), &v); err != nil {
				panic(err)
			}
		}
		b, err := json.Marshal(v)
		if err != nil {
			out = append(out, "ERROR: "+err.Error())
			continue
		}
		out = append(out, string(b))
	}
	if err := json.NewEncoder(os.Stdout).Encode(out); err != nil {
		panic(err)
	}
}
"""


def go_json(cases: Sequence[Mapping[str, Any]]) -> list[bytes]:
    """`json.Marshal` results: cases are {"string": bytes} | {"float": float} | {"json": text}."""
    import struct

    binary = _build("jsonref", {"go.mod": "module example.com/jsonref\n\ngo 1.22\n", "main.go": _JSON_MAIN}, offline=True)
    payload = []
    for case in cases:
        if "string" in case:
            payload.append({"kind": "string", "string": base64.b64encode(case["string"]).decode()})
        elif "float" in case:
            bits = struct.unpack("<Q", struct.pack("<d", case["float"]))[0]
            payload.append({"kind": "float", "float_bits": "%x" % bits})
        else:
            payload.append({"kind": "json", "json": case["json"]})
    # Go's Encoder escapes HTML in its own output; json.loads undoes that, the strings are raw.
    return [s.encode("utf-8", "surrogateescape") for s in json.loads(_run(binary, json.dumps(payload).encode()))]


# --------------------------------------------------------------------------- the rest of Go's standard library

_STDLIB_MAIN = r"""
// Answers calls of small standard-library functions, for the tables of pants_backend_ko/golang.
// stdin: a JSON array of {op, args}; args are raw bytes (base64), so invalid UTF-8 survives.
// stdout: a JSON array of {out, err}, out again raw bytes.
package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path"
	"runtime/debug"
	"strconv"
	"strings"
	"text/template"
	"time"
	"unicode"
)

// sample has one field of each kind golang/gostruct knows (gostruct_test.py mirrors it).
type sampleInner struct {
	A string `json:"a"`
	N int64  `json:"n,omitempty"`
}

type sample struct {
	S      string              `json:"s"`
	SO     string              `json:"so,omitempty"`
	B      bool                `json:"b,omitempty"`
	I      int64               `json:"i,omitempty"`
	L      []string            `json:"l,omitempty"`
	LN     []string            `json:"ln"`
	M      map[string]string   `json:"m,omitempty"`
	E      map[string]struct{} `json:"e,omitempty"`
	T      time.Time           `json:"t"`
	Y      []byte              `json:"y,omitempty"`
	In     sampleInner         `json:"in"`
	P      *sampleInner        `json:"p,omitempty"`
	LS     []sampleInner       `json:"ls,omitempty"`
	Kelvin string              `json:"kind"`
}

type call struct {
	Op   string   `json:"op"`
	Args [][]byte `json:"args"`
}

type answer struct {
	Out []byte `json:"out"`
	Err string `json:"err,omitempty"`
}

// templateData turns decoded JSON into the Go values the tests describe: integers stay int64,
// an object whose values are all strings is a map[string]string, any other object a
// map[string]any (the distinction decides what `index` of a missing key gives).
func templateData(v any) any {
	switch x := v.(type) {
	case json.Number:
		if n, err := x.Int64(); err == nil {
			return n
		}
		f, _ := x.Float64()
		return f
	case []any:
		for i := range x {
			x[i] = templateData(x[i])
		}
		return x
	case map[string]any:
		strs := map[string]string{}
		for k, e := range x {
			s, ok := e.(string)
			if !ok {
				strs = nil
				break
			}
			strs[k] = s
		}
		if strs != nil && len(x) > 0 {
			return strs
		}
		for k, e := range x {
			x[k] = templateData(e)
		}
		return x
	}
	return v
}

func do(c call) ([]byte, error) {
	arg := func(i int) string { return string(c.Args[i]) }
	switch c.Op {
	case "strconv.Unquote":
		s, err := strconv.Unquote(arg(0))
		return []byte(s), err
	case "strconv.QuotedPrefix":
		s, err := strconv.QuotedPrefix(arg(0))
		return []byte(s), err
	case "strconv.ParseInt.10", "strconv.ParseInt.0":
		base := 10
		if c.Op == "strconv.ParseInt.0" {
			base = 0
		}
		n, err := strconv.ParseInt(arg(0), base, 64)
		return []byte(strconv.FormatInt(n, 10)), err
	case "strconv.QuoteRune":
		n, err := strconv.ParseInt(arg(0), 10, 32)
		if err != nil {
			return nil, err
		}
		return []byte(strconv.QuoteRune(rune(n))), nil
	case "strconv.Quote":
		return []byte(strconv.Quote(arg(0))), nil
	case "path.Clean":
		return []byte(path.Clean(arg(0))), nil
	case "path.Join":
		parts := []string{}
		for i := range c.Args {
			parts = append(parts, arg(i))
		}
		return []byte(path.Join(parts...)), nil
	case "path.Base":
		return []byte(path.Base(arg(0))), nil
	case "path.Split":
		dir, file := path.Split(arg(0))
		return []byte(dir + "\x00" + file), nil
	case "time.Unix.UTC.RFC3339":
		n, err := strconv.ParseInt(arg(0), 10, 64)
		if err != nil {
			return nil, err
		}
		return []byte(time.Unix(n, 0).UTC().Format(time.RFC3339)), nil
	case "time.Unix.UTC.MarshalJSON":
		n, err := strconv.ParseInt(arg(0), 10, 64)
		if err != nil {
			return nil, err
		}
		return time.Unix(n, 0).UTC().MarshalJSON()
	case "time.UnmarshalJSON.MarshalJSON":
		var t time.Time
		if err := json.Unmarshal(c.Args[0], &t); err != nil {
			return nil, err
		}
		return json.Marshal(t)
	case "time.UnmarshalJSON.UTC.RFC3339":
		var t time.Time
		if err := json.Unmarshal(c.Args[0], &t); err != nil {
			return nil, err
		}
		return []byte(t.UTC().Format(time.RFC3339)), nil
	case "debug.ParseBuildInfo":
		// `go version -m` output as ko reads it: massageGoVersionM, then debug.ParseBuildInfo.
		var out bytes.Buffer
		scanner := bufio.NewScanner(bytes.NewReader(c.Args[0]))
		scanner.Buffer(make([]byte, 1<<20), 1<<20)
		scanner.Scan()
		for scanner.Scan() {
			fmt.Fprintln(&out, strings.TrimLeftFunc(scanner.Text(), unicode.IsSpace))
		}
		bi, err := debug.ParseBuildInfo(out.String())
		if err != nil {
			return nil, err
		}
		return json.Marshal(bi)
	case "json.Unmarshal.sample":
		var v sample
		if err := json.Unmarshal(c.Args[0], &v); err != nil {
			return nil, err
		}
		return json.Marshal(v)
	case "json.Encoder.SetIndent":
		var v any
		if err := json.Unmarshal(c.Args[0], &v); err != nil {
			return nil, err
		}
		var buf bytes.Buffer
		enc := json.NewEncoder(&buf)
		enc.SetIndent("", "  ")
		err := enc.Encode(v)
		return buf.Bytes(), err
	case "text/template":
		// args: template text, data as JSON; ko's options (missingkey=error).
		dec := json.NewDecoder(bytes.NewReader(c.Args[1]))
		dec.UseNumber()
		var data any
		if err := dec.Decode(&data); err != nil {
			return nil, err
		}
		tmpl, err := template.New("t").Option("missingkey=error").Parse(arg(0))
		if err != nil {
			return nil, err
		}
		var buf bytes.Buffer
		err = tmpl.Execute(&buf, templateData(data))
		return buf.Bytes(), err
	}
	return nil, fmt.Errorf("unknown op %q", c.Op)
}

func main() {
	var calls []call
	if err := json.NewDecoder(os.Stdin).Decode(&calls); err != nil {
		panic(err)
	}
	answers := []answer{}
	for _, c := range calls {
		out, err := do(c)
		a := answer{Out: out}
		if err != nil {
			a.Err = err.Error()
		}
		answers = append(answers, a)
	}
	if err := json.NewEncoder(os.Stdout).Encode(answers); err != nil {
		panic(err)
	}
}
"""


def go_stdlib(op: str, calls: Sequence[Sequence[bytes | str]]) -> list[tuple[bytes, str]]:
    """Go's answer to `op` (see `_STDLIB_MAIN`) for each argument list: (output bytes, error or "").

    Arguments are bytes, or str (sent as UTF-8, lone surrogates as the bytes surrogateescape gives).
    """
    binary = _build(
        "stdlibref", {"go.mod": "module example.com/stdlibref\n\ngo 1.22\n", "main.go": _STDLIB_MAIN}, offline=True
    )
    payload = [
        {
            "op": op,
            "args": [
                b64(a if isinstance(a, bytes) else a.encode("utf-8", "surrogateescape")) for a in args
            ],
        }
        for args in calls
    ]
    answers = json.loads(_run(binary, json.dumps(payload).encode()))
    return [(unb64(a.get("out")), a.get("err", "")) for a in answers]


# --------------------------------------------------------------------------- go-containerregistry

_GGCR_GO_MOD = """module example.com/ggcrreference

go 1.25.0

require github.com/google/go-containerregistry v0.21.9

require (
	github.com/klauspost/compress v1.19.1 // indirect
	github.com/opencontainers/go-digest v1.0.0 // indirect
	github.com/opencontainers/image-spec v1.1.1 // indirect
)
"""

_GGCR_GO_SUM = """github.com/google/go-containerregistry v0.21.9 h1:F+D4uZ3iA3DLMJLfhaqMdHJbzeqm/216WGQq2dokuLs=
github.com/google/go-containerregistry v0.21.9/go.mod h1:dP5XNKcL7kMFF/TB3LfvWmVhAcv7iqkHb3oDK8aauTo=
github.com/klauspost/compress v1.19.1 h1:VsB4HPswih7mmZ8WleSFQ75c/Ui1M4trX5oAsJnhSlk=
github.com/klauspost/compress v1.19.1/go.mod h1:cwPg85FWrGar70rWktvGQj8/hthj3wpl0PGDogxkrSQ=
github.com/opencontainers/go-digest v1.0.0 h1:apOUWs51W5PlhuyGyz9FCeeBIOUDA/6nW8Oi/yOhh5U=
github.com/opencontainers/go-digest v1.0.0/go.mod h1:0JzlMkj0TRzQZfJkVvzbP0HBR3IKzErnv2BNG4W4MAM=
github.com/opencontainers/image-spec v1.1.1 h1:y0fUlFfIZhPF1W537XOLg0/fcx6zcHCJwooC2xJA040=
github.com/opencontainers/image-spec v1.1.1/go.mod h1:qpqAh3Dmcf36wStyyWU+kCeDgrGnAve2nCC8+7h8Q0M=
"""

_GGCR_MAIN = r"""// ggcr reference: what go-containerregistry v0.21.9 (ko's pinned version) writes for the
// configs, manifests and index that ko builds. Reads one JSON request on stdin, writes one
// JSON response on stdout. Run with TZ=UTC (ko formats epochs in the local zone).
package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"os"
	"strings"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/partial"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

type rawImage struct {
	manifest, config []byte
	mediaType        types.MediaType
}

func (r *rawImage) RawConfigFile() ([]byte, error)          { return r.config, nil }
func (r *rawImage) MediaType() (types.MediaType, error)     { return r.mediaType, nil }
func (r *rawImage) RawManifest() ([]byte, error)            { return r.manifest, nil }
func (r *rawImage) LayerByDigest(h v1.Hash) (partial.CompressedLayer, error) {
	return nil, fmt.Errorf("base layer %s is not available", h)
}

// rawIndex is a base index read from its bytes (what remote.Index gives ko).
type rawIndex struct{ manifest []byte }

func (r *rawIndex) MediaType() (types.MediaType, error) {
	m, err := r.IndexManifest()
	if err != nil {
		return "", err
	}
	return m.MediaType, nil
}
func (r *rawIndex) Digest() (v1.Hash, error)        { return partial.Digest(r) }
func (r *rawIndex) Size() (int64, error)            { return int64(len(r.manifest)), nil }
func (r *rawIndex) RawManifest() ([]byte, error)    { return r.manifest, nil }
func (r *rawIndex) IndexManifest() (*v1.IndexManifest, error) {
	return v1.ParseIndexManifest(bytes.NewReader(r.manifest))
}
func (r *rawIndex) Image(h v1.Hash) (v1.Image, error) { return nil, fmt.Errorf("no image %s", h) }
func (r *rawIndex) ImageIndex(h v1.Hash) (v1.ImageIndex, error) {
	return nil, fmt.Errorf("no index %s", h)
}

// annotatedIndex is ko's Build on a base index: mutate.Annotations, then the digest.
type annotatedIndex struct {
	Index       []byte            `json:"index"`
	Annotations map[string]string `json:"annotations"`
}

type build struct {
	BaseManifest    []byte            `json:"base_manifest"`
	BaseConfig      []byte            `json:"base_config"`
	BaseMediaType   string            `json:"base_media_type"`
	BaseName        string            `json:"base_name"`
	KodataGz        []byte            `json:"kodata_gz"`
	AppGz           []byte            `json:"app_gz"`
	ImportPath      string            `json:"import_path"`
	AppPath         string            `json:"app_path"`
	SourceDateEpoch *int64            `json:"source_date_epoch"`
	KodataDateEpoch *int64            `json:"kodata_date_epoch"`
	User            string            `json:"user"`
	Labels          map[string]string `json:"labels"`
	Annotations     map[string]string `json:"annotations"`
	Env             [][2]string       `json:"env"`
	Entrypoint      []string          `json:"entrypoint"`
	Args            []string          `json:"args"`
	Workdir         string            `json:"workdir"`
	ExposedPorts    []string          `json:"exposed_ports"`
	Volumes         []string          `json:"volumes"`
}

type indexChild struct {
	Build    int            `json:"build"`
	Platform *v1.Platform   `json:"platform"`
	BaseDesc *v1.Descriptor `json:"base_desc"`
}

type indexBuild struct {
	MediaType   types.MediaType   `json:"media_type"`
	Annotations map[string]string `json:"annotations"`
	Children    []indexChild      `json:"children"`
}

type request struct {
	Configs   [][]byte     `json:"configs"`
	Manifests [][]byte     `json:"manifests"`
	Builds    []build      `json:"builds"`
	Indexes   []indexBuild `json:"indexes"`
	Tars      [][]byte     `json:"tars"` // layers as ko makes them: tarball.LayerFromOpener's blob
	Annotated []annotatedIndex `json:"annotated_indexes"`
}

type result struct {
	OK    []byte `json:"ok,omitempty"`
	Error string `json:"error,omitempty"`
}

type builtImage struct {
	Manifest []byte `json:"manifest"`
	Config   []byte `json:"config"`
	Error    string `json:"error,omitempty"`
}

type response struct {
	Configs   []result     `json:"configs"`
	Manifests []result     `json:"manifests"`
	Builds    []builtImage `json:"builds"`
	Indexes   []result     `json:"indexes"`
	Layers    []result     `json:"layers"`
	Annotated []result     `json:"annotated_indexes"`
}

func timeOf(epoch *int64) v1.Time {
	if epoch == nil {
		return v1.Time{}
	}
	return v1.Time{Time: time.Unix(*epoch, 0)}
}

// updatePath is ko's (pkg/build/gobuild.go).
func updatePath(cf *v1.ConfigFile, appPath string) {
	for i, env := range cf.Config.Env {
		parts := strings.SplitN(env, "=", 2)
		if len(parts) != 2 {
			continue
		}
		key, value := parts[0], parts[1]
		if key == "PATH" {
			value = fmt.Sprintf("%s:%s", value, appPath)
			cf.Config.Env[i] = "PATH=" + value
			return
		}
	}
	cf.Config.Env = append(cf.Config.Env, "PATH="+appPath)
}

func layer(gz []byte, mt types.MediaType) (v1.Layer, error) {
	return tarball.LayerFromOpener(func() (io.ReadCloser, error) {
		return io.NopCloser(bytes.NewReader(gz)), nil
	}, tarball.WithCompressedCaching, tarball.WithMediaType(mt))
}

// buildOne follows ko's Build (annotations) and buildOne (layers, config edits).
func buildOne(b build) (v1.Image, error) {
	base, err := partial.CompressedToImage(&rawImage{b.BaseManifest, b.BaseConfig, types.MediaType(b.BaseMediaType)})
	if err != nil {
		return nil, err
	}
	annotations := maps.Clone(b.Annotations)
	if annotations == nil {
		annotations = map[string]string{}
	}
	if b.BaseName != "" {
		d, err := base.Digest()
		if err != nil {
			return nil, err
		}
		annotations["org.opencontainers.image.base.digest"] = d.String()
		annotations["org.opencontainers.image.base.name"] = b.BaseName
	}
	base = mutate.Annotations(base, annotations).(v1.Image)

	var layerMediaType types.MediaType
	switch types.MediaType(b.BaseMediaType) {
	case types.OCIManifestSchema1:
		layerMediaType = types.OCILayer
	case types.DockerManifestSchema2:
		layerMediaType = types.DockerLayer
	}
	dataLayer, err := layer(b.KodataGz, layerMediaType)
	if err != nil {
		return nil, err
	}
	appLayer, err := layer(b.AppGz, layerMediaType)
	if err != nil {
		return nil, err
	}
	ref := "ko://" + b.ImportPath
	withApp, err := mutate.Append(base,
		mutate.Addendum{Layer: dataLayer, History: v1.History{
			Author: "ko", CreatedBy: "ko build " + ref, Created: timeOf(b.KodataDateEpoch),
			Comment: "kodata contents, at $KO_DATA_PATH"}},
		mutate.Addendum{Layer: appLayer, MediaType: layerMediaType, History: v1.History{
			Author: "ko", Created: timeOf(b.SourceDateEpoch), CreatedBy: "ko build " + ref,
			Comment: "go build output, at " + b.AppPath}},
	)
	if err != nil {
		return nil, err
	}
	cfg, err := withApp.ConfigFile()
	if err != nil {
		return nil, err
	}
	cfg = cfg.DeepCopy()
	cfg.Config.Entrypoint = []string{b.AppPath}
	if b.Entrypoint != nil {
		cfg.Config.Entrypoint = b.Entrypoint
	}
	cfg.Config.Cmd = nil
	if len(b.Args) > 0 {
		cfg.Config.Cmd = b.Args
	}
	updatePath(cfg, "/ko-app")
	cfg.Config.Env = append(cfg.Config.Env, "KO_DATA_PATH=/var/run/ko")
	for _, kv := range b.Env {
		kept := []string{}
		for _, e := range cfg.Config.Env {
			if k, _, ok := strings.Cut(e, "="); ok && k == kv[0] {
				continue
			}
			kept = append(kept, e)
		}
		cfg.Config.Env = append(kept, kv[0]+"="+kv[1])
	}
	cfg.Author = "github.com/ko-build/ko"
	if cfg.Config.Labels == nil {
		cfg.Config.Labels = map[string]string{}
	}
	maps.Copy(cfg.Config.Labels, b.Labels)
	if b.User != "" {
		cfg.Config.User = b.User
	}
	if b.Workdir != "" {
		cfg.Config.WorkingDir = b.Workdir
	}
	for _, port := range b.ExposedPorts {
		if cfg.Config.ExposedPorts == nil {
			cfg.Config.ExposedPorts = map[string]struct{}{}
		}
		cfg.Config.ExposedPorts[port] = struct{}{}
	}
	for _, volume := range b.Volumes {
		if cfg.Config.Volumes == nil {
			cfg.Config.Volumes = map[string]struct{}{}
		}
		cfg.Config.Volumes[volume] = struct{}{}
	}
	if b.SourceDateEpoch != nil {
		cfg.Created = timeOf(b.SourceDateEpoch)
	}
	return mutate.ConfigFile(withApp, cfg)
}

func main() {
	var req request
	if err := json.NewDecoder(os.Stdin).Decode(&req); err != nil {
		fmt.Fprintln(os.Stderr, "bad request:", err)
		os.Exit(2)
	}
	var resp response
	for _, c := range req.Configs {
		cf, err := v1.ParseConfigFile(bytes.NewReader(c))
		if err != nil {
			resp.Configs = append(resp.Configs, result{Error: err.Error()})
			continue
		}
		out, err := json.Marshal(cf)
		if err != nil {
			resp.Configs = append(resp.Configs, result{Error: err.Error()})
			continue
		}
		resp.Configs = append(resp.Configs, result{OK: out})
	}
	for _, m := range req.Manifests {
		mf, err := v1.ParseManifest(bytes.NewReader(m))
		if err != nil {
			resp.Manifests = append(resp.Manifests, result{Error: err.Error()})
			continue
		}
		out, err := json.Marshal(mf)
		if err != nil {
			resp.Manifests = append(resp.Manifests, result{Error: err.Error()})
			continue
		}
		resp.Manifests = append(resp.Manifests, result{OK: out})
	}
	images := []v1.Image{}
	for _, b := range req.Builds {
		img, err := buildOne(b)
		images = append(images, img)
		if err != nil {
			resp.Builds = append(resp.Builds, builtImage{Error: err.Error()})
			continue
		}
		m, err := img.RawManifest()
		if err != nil {
			resp.Builds = append(resp.Builds, builtImage{Error: err.Error()})
			continue
		}
		c, err := img.RawConfigFile()
		if err != nil {
			resp.Builds = append(resp.Builds, builtImage{Error: err.Error()})
			continue
		}
		resp.Builds = append(resp.Builds, builtImage{Manifest: m, Config: c})
	}
	for _, ib := range req.Indexes {
		adds := []mutate.IndexAddendum{}
		for _, child := range ib.Children {
			desc := v1.Descriptor{Platform: child.Platform}
			if child.BaseDesc != nil {
				desc.URLs = child.BaseDesc.URLs
				desc.MediaType = child.BaseDesc.MediaType
				desc.Annotations = child.BaseDesc.Annotations
			}
			adds = append(adds, mutate.IndexAddendum{Add: images[child.Build], Descriptor: desc})
		}
		annotations := ib.Annotations
		if annotations == nil {
			annotations = map[string]string{}
		}
		idx := mutate.AppendManifests(
			mutate.Annotations(mutate.IndexMediaType(empty.Index, ib.MediaType), annotations).(v1.ImageIndex),
			adds...)
		raw, err := idx.RawManifest()
		if err != nil {
			resp.Indexes = append(resp.Indexes, result{Error: err.Error()})
			continue
		}
		resp.Indexes = append(resp.Indexes, result{OK: raw})
	}
	for _, t := range req.Tars {
		tarBytes := t
		l, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) {
			return io.NopCloser(bytes.NewBuffer(tarBytes)), nil
		}, tarball.WithCompressedCaching)
		if err != nil {
			resp.Layers = append(resp.Layers, result{Error: err.Error()})
			continue
		}
		rc, err := l.Compressed()
		if err != nil {
			resp.Layers = append(resp.Layers, result{Error: err.Error()})
			continue
		}
		blob, err := io.ReadAll(rc)
		if err != nil {
			resp.Layers = append(resp.Layers, result{Error: err.Error()})
			continue
		}
		resp.Layers = append(resp.Layers, result{OK: blob})
	}
	for _, a := range req.Annotated {
		idx := mutate.Annotations(&rawIndex{a.Index}, a.Annotations).(v1.ImageIndex)
		d, err := idx.Digest()
		if err != nil {
			resp.Annotated = append(resp.Annotated, result{Error: err.Error()})
			continue
		}
		resp.Annotated = append(resp.Annotated, result{OK: []byte(d.String())})
	}
	if err := json.NewEncoder(os.Stdout).Encode(resp); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}
"""


def ggcr(request: Mapping[str, Any]) -> dict:
    """Run the ggcr v0.21.9 reference (see `_GGCR_MAIN`); bytes fields are base64 both ways."""
    binary = _build(
        "ggcrref", {"go.mod": _GGCR_GO_MOD, "go.sum": _GGCR_GO_SUM, "main.go": _GGCR_MAIN}, offline=False
    )
    return json.loads(_run(binary, json.dumps(request).encode()))


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def unb64(text: str | None) -> bytes:
    return base64.b64decode(text or "")


# --------------------------------------------------------------------------- ko's pkg/caps

_KO_CAPS_GO_MOD = """module example.com/kocapsref

go 1.25

require github.com/google/ko v0.19.1
"""
_KO_CAPS_GO_SUM = """github.com/google/ko v0.19.1 h1:FggFTOgqz3sCdac8DvF2uU7FjphG3zNvZ9QMLOuVhZ8=
github.com/google/ko v0.19.1/go.mod h1:QPXOKWfYyhm1AJFo318SKif5fMPjXRdwj1YudZ5YXQA=
"""
_KO_CAPS_MAIN = r"""
// For each list of terms read from stdin (JSON), ko's caps.NewFileCaps and ToXattrBytes:
// the xattr bytes (none when ko writes none) or ko's error.
package main

import (
	"encoding/json"
	"os"

	"github.com/google/ko/pkg/caps"
)

type result struct {
	Xattr []byte `json:"xattr"`
	Error string `json:"error"`
}

func main() {
	var cases [][]string
	if err := json.NewDecoder(os.Stdin).Decode(&cases); err != nil {
		panic(err)
	}
	out := []result{}
	for _, terms := range cases {
		fc, err := caps.NewFileCaps(terms...)
		switch {
		case err != nil:
			out = append(out, result{Error: err.Error()})
		case fc == nil:
			out = append(out, result{})
		default:
			b, err := fc.ToXattrBytes()
			if err != nil {
				panic(err)
			}
			out = append(out, result{Xattr: b})
		}
	}
	if err := json.NewEncoder(os.Stdout).Encode(out); err != nil {
		panic(err)
	}
}
"""


def ko_caps(cases: Sequence[Sequence[str]]) -> list[bytes | None | Exception]:
    """ko v0.19.1's `caps.NewFileCaps(terms...).ToXattrBytes()` for each list of terms: the
    `security.capability` bytes, None when ko writes no xattr, or ko's error (as a ValueError).
    The ko module comes from the proxy the first time (pkg/caps imports only the standard library)."""
    binary = _build(
        "kocapsref", {"go.mod": _KO_CAPS_GO_MOD, "go.sum": _KO_CAPS_GO_SUM, "main.go": _KO_CAPS_MAIN}, offline=False
    )
    results = json.loads(_run(binary, json.dumps([list(terms) for terms in cases]).encode()))
    return [ValueError(r["error"]) if r["error"] else None if r["xattr"] is None else unb64(r["xattr"]) for r in results]


# --------------------------------------------------------------------------- ko itself

KO_VERSION = "v0.19.1"  # the latest ko release; its go.mod pins the ggcr line HEAD pins (v0.21.x)
KO_BUILD_TIMEOUT = 1800  # cold: ~150 modules from the proxy and a compile on 2 cores (~4-5 min measured)


def ko_binary() -> Path:
    """The real `ko` CLI, `go install`ed once from the Go module proxy into the peers cache."""
    out_dir = cache_root() / "go-reference" / f"ko-{KO_VERSION}"
    binary = out_dir / "ko"
    if binary.is_file():
        return binary
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    with open(out_dir.parent / ".ko.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if binary.is_file():
            return binary
        with tempfile.TemporaryDirectory(dir=out_dir.parent) as work:
            env = go_env(offline=False)
            env["GOBIN"] = work
            env["GOFLAGS"] = "-buildvcs=false"
            result = subprocess.run(
                ["go", "install", f"github.com/google/ko@{KO_VERSION}"],
                cwd=work,
                env=env,
                capture_output=True,
                text=True,
                timeout=KO_BUILD_TIMEOUT,
            )
            if result.returncode != 0:
                raise RuntimeError(f"go install github.com/google/ko@{KO_VERSION} failed:\n{result.stderr[-4000:]}")
            out_dir.mkdir(exist_ok=True)
            shutil.move(str(Path(work, "ko")), str(binary))
    return binary
