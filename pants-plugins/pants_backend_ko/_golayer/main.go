// Command golayer writes the bytes of pants-backend-ko's images: ko's layers, and the docker
// archive `pants package` writes beside an image. Pants' rules only ever see the small JSON
// answers; every byte of a layer is written here, once, as ko writes it.
//
// The folder's name starts with `_` so that `go build ./...`, `go list ./...` and the
// backend's `tailor` skip it when the plugin lives inside a user's Go module.
//
//	golayer layers  REQUEST.json   writes each layer to OUT/<hex>, prints a LayersWritten on stdout
//	golayer archive REQUEST.json   writes a docker archive (the entries listed, in that order)
//
// Layers follow ko's `tarBinary` and `tarKoData` (ko's pkg/build/gobuild.go): Go's archive/tar
// with only Name, Typeflag, Mode, Size and ModTime set (plus any PAX records the request adds,
// and the entry's Linux capabilities as ko's `linux_capabilities` writes them: the PAX record
// `SCHILY.xattr.security.capability`, ko's pkg/caps XattrBytes), compressed the way
// go-containerregistry's tarball.LayerFromOpener does (internal/gzip: compress/gzip at
// gzip.BestSpeed, no name, zero mtime). Built with the same Go version, the blobs are
// byte-identical to ko's, so are their digests.
//
// The request's `buildinfo` lists binaries whose module information is printed exactly as
// `go version -m` prints it (for the SBOM), read with debug/buildinfo.
//
// Standard library only; one line on stderr and exit code 1 on any error.
package main

import (
	"archive/tar"
	"bufio"
	"compress/gzip"
	"crypto/sha256"
	"debug/buildinfo"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// Entry is one tar entry of a layer.
type Entry struct {
	Name   string            `json:"name"`
	Type   string            `json:"type"`   // "dir" or "file"
	Source string            `json:"source"` // the file holding a "file" entry's bytes
	Mode   int64             `json:"mode"`
	MTime  *int64            `json:"mtime"` // seconds since 1970; null is Go's zero time (ko's default)
	PAX    map[string]string `json:"pax"`   // extra PAX records, e.g. SCHILY.xattr.*
	// The file's Linux capabilities (ko's linux_capabilities), written as ko's tarBinary does.
	Capabilities *FileCapabilities `json:"capabilities"`
}

// FileCapabilities is ko's caps.FileCaps (pkg/caps/caps.go): the sets, already parsed.
type FileCapabilities struct {
	Permitted   uint64 `json:"permitted"`
	Inheritable uint64 `json:"inheritable"`
	Effective   bool   `json:"effective"`
}

// xattr is ko's caps.XattrBytes: the kernel's vfs_cap_data, revision 2 (magic with the
// effective flag, then the permitted and inheritable sets' low and high 32 bits), little-endian.
func (c *FileCapabilities) xattr() string {
	const vfsCapRevision2, vfsCapFlagsEffective = 0x02000000, 1
	magic := uint32(vfsCapRevision2)
	if c.Effective {
		magic |= vfsCapFlagsEffective
	}
	var b [20]byte
	for i, word := range []uint32{
		magic, uint32(c.Permitted), uint32(c.Inheritable), uint32(c.Permitted >> 32), uint32(c.Inheritable >> 32),
	} {
		binary.LittleEndian.PutUint32(b[4*i:], word)
	}
	return string(b[:])
}

// Layer is one layer: its entries, in the order they are written.
type Layer struct {
	Entries []Entry `json:"entries"`
}

// Binary names a Go binary whose build information is wanted.
type Binary struct {
	Name   string `json:"name"`   // how `go version -m` output names it (its path in the image)
	Source string `json:"source"` // where it is in the sandbox
}

// LayersRequest is what `golayer layers` reads.
type LayersRequest struct {
	Out       string   `json:"out"` // folder the blobs are written to, named by their hex digest
	Layers    []Layer  `json:"layers"`
	BuildInfo []Binary `json:"buildinfo"`
}

// WrittenLayer describes one written layer blob.
type WrittenLayer struct {
	Digest string `json:"digest"`  // sha256 of the gzip'd blob
	DiffID string `json:"diff_id"` // sha256 of the tar
	Size   int64  `json:"size"`    // bytes of the gzip'd blob
}

// LayersWritten is what `golayer layers` prints.
type LayersWritten struct {
	Layers    []WrittenLayer `json:"layers"`
	BuildInfo []string       `json:"buildinfo"` // `go version -m` output per requested binary
}

// ArchiveEntry is one entry of a docker archive.
type ArchiveEntry struct {
	Name   string `json:"name"`
	Dir    bool   `json:"dir"`
	Source string `json:"source"` // the file holding a file entry's bytes
}

// ArchiveRequest is what `golayer archive` reads.
type ArchiveRequest struct {
	Out     string         `json:"out"`
	Entries []ArchiveEntry `json:"entries"`
}

func main() {
	if len(os.Args) != 3 {
		fail(errors.New("usage: golayer layers|archive REQUEST.json"))
	}
	var err error
	switch os.Args[1] {
	case "layers":
		var req LayersRequest
		if err = readJSON(os.Args[2], &req); err == nil {
			var out *LayersWritten
			if out, err = writeLayers(&req); err == nil {
				err = json.NewEncoder(os.Stdout).Encode(out)
			}
		}
	case "archive":
		var req ArchiveRequest
		if err = readJSON(os.Args[2], &req); err == nil {
			err = writeArchive(&req)
		}
	default:
		err = fmt.Errorf("unknown command %q (layers, archive)", os.Args[1])
	}
	if err != nil {
		fail(err)
	}
}

func fail(err error) {
	fmt.Fprintf(os.Stderr, "golayer: %s\n", strings.ReplaceAll(err.Error(), "\n", " "))
	os.Exit(1)
}

func readJSON(path string, v any) error {
	data, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	dec := json.NewDecoder(strings.NewReader(string(data)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	return nil
}

// ------------------------------------------------------------------------------------ layers

func writeLayers(req *LayersRequest) (*LayersWritten, error) {
	if err := os.MkdirAll(req.Out, 0o755); err != nil {
		return nil, err
	}
	out := &LayersWritten{Layers: []WrittenLayer{}, BuildInfo: []string{}}
	for i := range req.Layers {
		written, err := writeLayer(req.Out, &req.Layers[i])
		if err != nil {
			return nil, fmt.Errorf("layer %d: %w", i, err)
		}
		out.Layers = append(out.Layers, *written)
	}
	for _, b := range req.BuildInfo {
		text, err := goVersionM(b)
		if err != nil {
			return nil, err
		}
		out.BuildInfo = append(out.BuildInfo, text)
	}
	return out, nil
}

// countingHash is a sha256 that also counts what it was given.
type countingHash struct {
	hash.Hash
	n int64
}

func (c *countingHash) Write(p []byte) (int, error) {
	c.n += int64(len(p))
	return c.Hash.Write(p)
}

func writeLayer(dir string, layer *Layer) (*WrittenLayer, error) {
	tmp, err := os.CreateTemp(dir, ".layer-*")
	if err != nil {
		return nil, err
	}
	defer os.Remove(tmp.Name()) // gone after the rename; left over only on an error
	digest := &countingHash{Hash: sha256.New()}
	diffID := sha256.New()
	// As go-containerregistry's internal/gzip: a 64 KiB buffer between gzip and the sink
	// (it changes how bytes are grouped into writes, never the bytes).
	sink := bufio.NewWriterSize(io.MultiWriter(tmp, digest), 2<<16)
	gz, err := gzip.NewWriterLevel(sink, gzip.BestSpeed)
	if err != nil {
		return nil, err
	}
	tw := tar.NewWriter(io.MultiWriter(gz, diffID))
	for i := range layer.Entries {
		if err := writeEntry(tw, &layer.Entries[i]); err != nil {
			tmp.Close()
			return nil, err
		}
	}
	for _, step := range []func() error{tw.Close, gz.Close, sink.Flush, tmp.Close} {
		if err := step(); err != nil {
			return nil, err
		}
	}
	hexDigest := hex.EncodeToString(digest.Sum(nil))
	if err := os.Rename(tmp.Name(), filepath.Join(dir, hexDigest)); err != nil {
		return nil, err
	}
	return &WrittenLayer{
		Digest: "sha256:" + hexDigest,
		DiffID: "sha256:" + hex.EncodeToString(diffID.Sum(nil)),
		Size:   digest.n,
	}, nil
}

func writeEntry(tw *tar.Writer, e *Entry) error {
	var mtime time.Time // ko's zero v1.Time when no epoch is set
	if e.MTime != nil {
		mtime = time.Unix(*e.MTime, 0)
	}
	hdr := &tar.Header{Name: e.Name, Mode: e.Mode, ModTime: mtime}
	if len(e.PAX) > 0 || e.Capabilities != nil {
		hdr.PAXRecords = map[string]string{}
		for k, v := range e.PAX {
			hdr.PAXRecords[k] = v
		}
		if e.Capabilities != nil {
			hdr.PAXRecords["SCHILY.xattr.security.capability"] = e.Capabilities.xattr()
		}
	}
	switch e.Type {
	case "dir":
		hdr.Typeflag = tar.TypeDir
		if err := tw.WriteHeader(hdr); err != nil {
			return fmt.Errorf("%s: %w", e.Name, err)
		}
		return nil
	case "file":
		f, info, err := openRegular(e.Source)
		if err != nil {
			return fmt.Errorf("%s: %w", e.Name, err)
		}
		defer f.Close()
		hdr.Typeflag = tar.TypeReg
		hdr.Size = info.Size()
		if err := tw.WriteHeader(hdr); err != nil {
			return fmt.Errorf("%s: %w", e.Name, err)
		}
		if _, err := io.Copy(tw, f); err != nil {
			return fmt.Errorf("%s: copying %s: %w", e.Name, e.Source, err)
		}
		return nil
	default:
		return fmt.Errorf("%s: unknown entry type %q (dir, file)", e.Name, e.Type)
	}
}

// openRegular opens a regular file (following symlinks). Anything else (a FIFO, a socket, a
// device) is refused before it is opened: opening a FIFO would wait for a writer forever.
func openRegular(path string) (*os.File, os.FileInfo, error) {
	info, err := os.Stat(path)
	if err != nil {
		return nil, nil, err
	}
	if !info.Mode().IsRegular() {
		return nil, nil, fmt.Errorf("%s is not a regular file (%s)", path, info.Mode().Type())
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, nil, err
	}
	return f, info, nil
}

// goVersionM is what `go version -m` prints for the binary (cmd/go/internal/version).
func goVersionM(b Binary) (string, error) {
	bi, err := buildinfo.ReadFile(b.Source)
	if err != nil {
		return "", fmt.Errorf("%s: cannot read Go build information: %w", b.Name, err)
	}
	var out strings.Builder
	fmt.Fprintf(&out, "%s: %s\n", b.Name, bi.GoVersion)
	bi.GoVersion = ""
	if mod := bi.String(); len(mod) > 0 {
		fmt.Fprintf(&out, "\t%s\n", strings.ReplaceAll(mod[:len(mod)-1], "\n", "\n\t"))
	}
	return out.String(), nil
}

// ----------------------------------------------------------------------------------- archive

// The docker archive is written as Python's tarfile writes USTAR (pants_backend_ko.oci.layout's
// tar_stream, which the ko.local loader streams too): directory names end with '/', modes 0755
// and 0644, owner 0:0 with empty names, mtime 0, device fields left empty (tarfile writes them
// for devices only), and zeros up to a whole 10240-byte record.
const (
	blockSize  = 512
	recordSize = 20 * blockSize
)

func writeArchive(req *ArchiveRequest) error {
	if err := os.MkdirAll(filepath.Dir(req.Out), 0o755); err != nil {
		return err
	}
	f, err := os.Create(req.Out)
	if err != nil {
		return err
	}
	w := bufio.NewWriterSize(f, 1<<20)
	written := int64(0)
	for _, e := range req.Entries {
		n, err := writeArchiveEntry(w, e)
		if err != nil {
			f.Close()
			return err
		}
		written += n
	}
	end := int64(2 * blockSize)
	end += (recordSize - (written+end)%recordSize) % recordSize
	if _, err := w.Write(make([]byte, end)); err != nil {
		f.Close()
		return err
	}
	if err := w.Flush(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

func writeArchiveEntry(w io.Writer, e ArchiveEntry) (int64, error) {
	if e.Dir {
		name := e.Name
		if !strings.HasSuffix(name, "/") {
			name += "/"
		}
		header, err := ustarHeader(name, '5', 0o755, 0)
		if err != nil {
			return 0, err
		}
		_, err = w.Write(header)
		return blockSize, err
	}
	f, info, err := openRegular(e.Source)
	if err != nil {
		return 0, fmt.Errorf("%s: %w", e.Name, err)
	}
	defer f.Close()
	size := info.Size()
	header, err := ustarHeader(e.Name, '0', 0o644, size)
	if err != nil {
		return 0, err
	}
	if _, err := w.Write(header); err != nil {
		return 0, err
	}
	copied, err := io.Copy(w, f)
	if err != nil {
		return 0, err
	}
	if copied != size {
		return 0, fmt.Errorf("%s changed size while it was archived (%d -> %d bytes)", e.Source, size, copied)
	}
	padding := (blockSize - size%blockSize) % blockSize
	if _, err := w.Write(make([]byte, padding)); err != nil {
		return 0, err
	}
	return blockSize + size + padding, nil
}

// octal is Python tarfile's itn for USTAR: zero-padded octal digits, then a NUL.
func octal(field []byte, value int64) error {
	digits := strconv.FormatInt(value, 8)
	if value < 0 || len(digits) > len(field)-1 {
		return fmt.Errorf("tar: %d does not fit a %d-byte field", value, len(field))
	}
	copy(field, strings.Repeat("0", len(field)-1-len(digits))+digits)
	field[len(field)-1] = 0
	return nil
}

func ustarHeader(name string, typeflag byte, mode, size int64) ([]byte, error) {
	if len(name) > 100 {
		return nil, fmt.Errorf("tar: archive entry name %q is longer than 100 bytes", name)
	}
	h := make([]byte, blockSize)
	copy(h[0:100], name)
	for _, f := range []struct {
		field []byte
		value int64
	}{
		{h[100:108], mode}, {h[108:116], 0}, {h[116:124], 0}, {h[124:136], size}, {h[136:148], 0},
	} {
		if err := octal(f.field, f.value); err != nil {
			return nil, err
		}
	}
	copy(h[148:156], "        ")
	h[156] = typeflag
	copy(h[257:265], "ustar\x0000")
	sum := 0
	for _, b := range h {
		sum += int(b)
	}
	copy(h[148:155], fmt.Sprintf("%06o\x00", sum))
	return h, nil
}
