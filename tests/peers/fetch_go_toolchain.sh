#!/usr/bin/env bash
# Fetches, once, the Go toolchain module of a release (golang.org/toolchain@v0.0.1-go<release>.
# <goos>-<goarch>, what `go` itself downloads for GOTOOLCHAIN) and the example module's
# dependencies into the peers' module cache, verified by `go` against the checksum database.
# That cache's download folder is a GOPROXY (`go help goproxy`: file://$GOMODCACHE/cache/download):
# the air-gapped set-up tests/test_remote.py builds with, `[ko].go_version` and `go build` alike.
#
# Output (the only line on stdout): the file:// GOPROXY URL. Exits at once when the zip exists.
#
# Environment:
#   PANTS_KO_GO_TOOLCHAIN  release to fetch (default: the host's `go env GOVERSION`, e.g. 1.26.8).
#   PANTS_KO_PEERS_CACHE   cache root (outside the repository).
#   GOPROXY, GOSUMDB, ...  taken from the environment / the user's go env.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO="$(cd "$HERE/../.." && pwd)"
# shellcheck source=tests/peers/peer_build.sh
source "$HERE/peer_build.sh"

peer_require go
RELEASE="${PANTS_KO_GO_TOOLCHAIN:-$(go env GOVERSION | sed 's/^go//')}"
[[ "$RELEASE" =~ ^1\.[0-9]+(\.[0-9]+|rc[0-9]+)$ ]] \
  || die "PANTS_KO_GO_TOOLCHAIN='$RELEASE' is not a Go release like 1.26.8"
GOOS_GOARCH="$(go env GOHOSTOS)-$(go env GOHOSTARCH)"
VERSION="v0.0.1-go$RELEASE.$GOOS_GOARCH"
peer_init fetch_go_toolchain.sh "go-toolchain-$RELEASE.$GOOS_GOARCH"

DOWNLOADS="$CACHE_ROOT/go/pkg/mod/cache/download"   # peer_go_env's GOMODCACHE
have_zip() { [[ -f "$DOWNLOADS/golang.org/toolchain/@v/$VERSION.zip" && -f "$OUT" ]]; }
print_proxy() { echo "file://$DOWNLOADS"; }

peer_fast_path have_zip print_proxy
peer_begin_build have_zip print_proxy 900

log "fetching golang.org/toolchain@$VERSION and the example's modules into $DOWNLOADS"
peer_module_download "golang.org/toolchain@$VERSION" PANTS_KO_GO_TOOLCHAIN
(cd "$REPO/src/go" && go mod download all) >&2 || die "go mod download of the example's modules failed"
[[ -f "$DOWNLOADS/golang.org/toolchain/@v/$VERSION.zip" ]] || die "go mod download left no $VERSION.zip"
date -u +%FT%TZ >"$OUT"   # the stamp
log "done in $(elapsed)"
print_proxy
