"""Go's behaviour where ko's output depends on it, one implementation each, tested against Go.

ko and go-containerregistry are Go programs: their bytes come from Go's standard library. Each
module copies one Go package's behaviour, and its `*_test.py` compares tables of tricky cases
with what Go itself answers (`tests/peers/go_reference.py` builds small Go programs, offline).
No Pants imports, no imports from the rest of the backend; the standard library only.

  gojson      encoding/json: bytes as `json.Marshal` and the indenting `json.Encoder` write them,
              and JSON read as Go's decoder sees it
  gostruct    encoding/json into and out of Go structs (field order, omitempty, nil vs empty,
              case-insensitive keys), the codec of go-containerregistry's structs in `oci/`
  frozendict  `FrozenDict`, the immutable mapping that holds a Go map in a frozen dataclass
  gotime      time: RFC 3339 as `time.Time` reads and writes it; Unix seconds in UTC
  gopath      path: Clean, Join, Base, Split
  gostrconv   strconv: Unquote, QuotedPrefix, Quote; Go strings that are not UTF-8
  gofmt       fmt: Sprint and Sprintf for the verbs templates use; Go type names
  gotemplate  text/template: parse and execute (the subset ko configs use)
  gotoolchain cmd/go's toolchain download: the golang.org/toolchain module, its proxy URL, and the
              GOROOT (file modes, go.mod copies) `go` makes of its zip
"""
