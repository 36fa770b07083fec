#!/usr/bin/env bash
# Builds, once, a real Buildbarn (bb_storage, bb_scheduler, bb_worker, bb_runner) from the Go
# module proxy with plain `go build`: the remote execution cluster tests/test_remote.py runs
# Pants' `--remote-execution` against (tests/peers/buildbarn.py starts it on loopback).
#
# Why this version: Pants 2.17 declares outputs with REv2.0's Command.output_files and
# output_directories only. bb-remote-execution removed those on 2026-03-26 (e6ab874, "Remove
# support for REv2.0 and REv2.1"; before that, since 2025-08-12, behind the worker option
# supportLegacyOutputFilesAndDirectories), after which actions "succeed" with no outputs. So the
# newest version before that which the proxy serves: cd89f0554d18 (2026-03-19).
#
# Why the edits (each checked below, so a changed upstream fails here in one line):
#   1. two pseudo-versions its go.mod pins (genproto's bytestream, bazelbuild/buildtools) are
#      not served by the proxy: the newer ones bb-remote-execution's later go.mod uses are;
#   2. bb_worker needs go-fuse v2.5.1 with three Buildbarn patches (Bazel applies them; they
#      ship in the module under patches/);
#   3. bb_storage registers the ByteStream service on a grpc.ServiceRegistrar, where genproto's
#      published stubs want *grpc.Server (Bazel regenerates the stubs): one type assertion.
#   GONOSUMDB: Buildbarn's pseudo-versions are looked up in no checksum database.
#
# Output (the only line on stdout): the folder holding the four binaries,
#   ${PANTS_KO_PEERS_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/pants-backend-ko/peers}/buildbarn-<version>
# Exits at once when they exist. Progress goes to stderr. Cold: ~4 min on 2 cores.
#
# Environment:
#   PANTS_KO_PEERS_CACHE   cache root (outside the repository).
#   GOPROXY, GOSUMDB, ...  taken from the environment / the user's go env.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=tests/peers/peer_build.sh
source "$HERE/peer_build.sh"

RE_MODULE="github.com/buildbarn/bb-remote-execution"
RE_VERSION="v0.0.0-20260319042723-cd89f0554d18"
GO_FUSE="github.com/hanwen/go-fuse/v2@v2.5.1"
GO_FUSE_PATCHES=(direntrylist-offsets-and-testability writeback-cache notify-testability)
BINARIES=(bb_storage bb_scheduler bb_worker bb_runner)
peer_init build_buildbarn.sh "buildbarn-$RE_VERSION"

have_binaries() {
  local b
  for b in "${BINARIES[@]}"; do [[ -x "$OUT/$b" ]] || return 1; done
}
print_folder() { echo "$OUT"; }

peer_fast_path have_binaries print_folder
peer_require patch
peer_begin_build have_binaries print_folder 1800
export GONOSUMDB="github.com/buildbarn${GONOSUMDB:+,$GONOSUMDB}"

log "building Buildbarn $RE_VERSION into $OUT (cold: ~4 min on 2 cores)"

# copy_module MODULE@VERSION DEST: a writable copy of a module's source.
copy_module() {
  peer_module_download "$1" "the pinned version in $PEER_SCRIPT"
  cp -R "$MODULE_DIR" "$2" && chmod -R u+w "$2" || die "cannot copy $MODULE_DIR into $2"
}

copy_module "$RE_MODULE@$RE_VERSION" "$WORK/bb-remote-execution"
cd "$WORK/bb-remote-execution"

# 1. Dependencies the proxy serves, with their go.sum lines.
go mod edit \
  -require=google.golang.org/genproto/googleapis/bytestream@v0.0.0-20260526163538-3dc84a4a5aaa \
  -require=github.com/bazelbuild/buildtools@v0.0.0-20260527145659-eb0c58a06830
cat >>go.sum <<'EOF'
github.com/bazelbuild/buildtools v0.0.0-20260527145659-eb0c58a06830 h1:ig1+bY5aBPc94kDu+dRnQgGLS6RLpRajYhIrEUJjyRs=
github.com/bazelbuild/buildtools v0.0.0-20260527145659-eb0c58a06830/go.mod h1:PLNUetjLa77TCCziPsz0EI8a6CUxgC+1jgmWv0H25tg=
google.golang.org/genproto/googleapis/bytestream v0.0.0-20260526163538-3dc84a4a5aaa h1:j6msf8KJyzoDnpJXLe4h+POVv5pe4OSqyQ2yifBOVsQ=
google.golang.org/genproto/googleapis/bytestream v0.0.0-20260526163538-3dc84a4a5aaa/go.mod h1:6TABGosqSqU2l1+fJ3jdvOYPPVryeKybxYF0cCZkTBE=
EOF

# 2. go-fuse with Buildbarn's patches.
copy_module "$GO_FUSE" "$WORK/go-fuse"
for p in "${GO_FUSE_PATCHES[@]}"; do
  diff="$WORK/bb-remote-execution/patches/com_github_hanwen_go_fuse_v2/$p.diff"
  [[ -f "$diff" ]] || die "$RE_MODULE@$RE_VERSION has no patch $p.diff any more; re-check the go-fuse patches"
  (cd "$WORK/go-fuse" && patch -p0 --batch --quiet <"$diff") || die "patch $p.diff does not apply to $GO_FUSE"
done
go mod edit -replace=github.com/hanwen/go-fuse/v2=../go-fuse

# 3. bb_storage's ByteStream registration.
BS_VERSION="$(go list -mod=mod -m -f '{{.Version}}' github.com/buildbarn/bb-storage)" \
  || die "cannot resolve github.com/buildbarn/bb-storage from $RE_MODULE's go.mod"
copy_module "github.com/buildbarn/bb-storage@$BS_VERSION" "$WORK/bb-storage"
main_go="$WORK/bb-storage/cmd/bb_storage/main.go"
old=$'bytestream.RegisterByteStreamServer(\n\t\t\t\t\t\ts,'
new=$'bytestream.RegisterByteStreamServer(\n\t\t\t\t\t\ts.(*grpc.Server),'
text="$(cat "$main_go")"
[[ "$text" == *"$old"* ]] || die "bb-storage $BS_VERSION changed its ByteStream registration; re-check the fix in $PEER_SCRIPT"
printf '%s\n' "${text/"$old"/"$new"}" >"$main_go"
go mod edit -replace=github.com/buildbarn/bb-storage=../bb-storage

STAGE="$WORK/stage"
mkdir -p "$STAGE"
nice -n 19 go build -mod=mod -trimpath -ldflags='-s -w' -o "$STAGE/" \
  ./cmd/bb_scheduler ./cmd/bb_worker ./cmd/bb_runner github.com/buildbarn/bb-storage/cmd/bb_storage >&2 \
  || die "go build of Buildbarn failed (compiler output above)"
for b in "${BINARIES[@]}"; do
  [[ -x "$STAGE/$b" ]] || die "the build produced no $b"
done
cp go.mod go.sum "$STAGE/"   # provenance: exactly what was built

cd "$CACHE_ROOT"
peer_publish "$STAGE"
log "done in $(elapsed): $OUT"
print_folder
