"""Go source and module files read as the Go toolchain reads them (no Pants imports).

  source   a `.go` file's header: package clause, imports, build constraints, `//go:embed`
           patterns (Go's `go/build` `readGoInfo` and `parseFileHeader`, `go/build/constraint`)
  modfile  `go.mod` and `go.work`: module path, `replace` and `use` directives
           (`golang.org/x/mod/modfile`'s grammar)

Dependency inference reads files with these instead of running `go`: a Pants rule keyed by
the files' digest, no Process. Tests compare both with `go list` and `go mod edit -json`.
"""
