"""Which Go module holds a folder, and where a build of that module finds the repository's code.

As `go` decides (cmd/go/internal/modload): the nearest go.mod above the folder is the main
module; a go.work above it (unless `GOWORK=off`) makes a workspace whose `use`d modules are all
main modules; `replace` directives whose new path is a folder put another module of the
repository in the build. Those folders, with their module paths, are the build's *context*:
import paths under them are packages of the repository (dependency inference), their go.mod,
go.sum and go.work files are inputs of every build (go_build).

A `replace` to a folder outside the repository, or to an absolute path, is refused: Pants can
neither sandbox nor track it, and the build would read whatever is on the host (stale images).
"""

from __future__ import annotations

import os
import posixpath
from dataclasses import dataclass

from pants.engine.fs import DigestContents, PathGlobs, Paths
from pants.engine.rules import Get, collect_rules, rule
from pants.util.logging import LogLevel

from pants_backend_ko.errors import KoError
from pants_backend_ko.gosrc.modfile import ModFile, ModFileError, Replace, parse_mod, parse_work
from pants_backend_ko.subsystems import KoSubsystem


@dataclass(frozen=True)
class GoModuleRequest:
    """The module that holds `package_dir` (a repository-relative folder)."""

    package_dir: str


@dataclass(frozen=True)
class GoModuleAt:
    """The module whose go.mod is in `root` (a repository-relative folder, "" for the root)."""

    root: str


@dataclass(frozen=True)
class GoModule:
    root: str  # repository-relative folder holding go.mod ("" for the repository root)
    module_path: str
    vendored: bool
    # (module path, folder) of every module of the repository this module's builds read: itself
    # first, then the workspace's modules and the folders of local `replace`s.
    local_modules: tuple[tuple[str, str], ...] = ()
    # Folders of go.mod files inside those modules' folders that are not part of the build:
    # nested modules, which their parent's packages cannot contain.
    nested_roots: tuple[str, ...] = ()
    work_file: str | None = None  # repository path of the go.work the module builds in
    replaced_dirs: tuple[str, ...] = ()  # folders this go.mod's own `replace`s point at

    def import_path_of(self, package_dir: str) -> str:
        rel = os.path.relpath(package_dir or ".", self.root or ".")
        return self.module_path if rel == "." else f"{self.module_path}/{rel}"

    def path(self, rel: str) -> str:
        return os.path.join(self.root, rel) if self.root else rel

    @property
    def context_dirs(self) -> tuple[str, ...]:
        dirs = [self.root]
        for _, folder in self.local_modules:
            if folder not in dirs:
                dirs.append(folder)
        return tuple(dirs)

    @property
    def module_files(self) -> tuple[str, ...]:
        """Files every build of this module reads besides packages: each context module's go.mod
        and go.sum, vendor/modules.txt, go.work and go.work.sum (those that exist are used)."""
        files: list[str] = []
        for folder in self.context_dirs:
            files.extend(_join(folder, name) for name in ("go.mod", "go.sum"))
        if self.vendored:
            files.append(self.path("vendor/modules.txt"))
        if self.work_file:
            files.extend((self.work_file, self.work_file + ".sum"))
        return tuple(files)

    def resolve(self, import_path: str) -> str | None:
        """The repository folder of `import_path` when a build of this module takes it from the
        repository, else None (standard library, or a module from the module proxy)."""
        best: tuple[str, str] | None = None
        for module_path, folder in self.local_modules:
            if import_path == module_path or import_path.startswith(module_path + "/"):
                if best is None or len(module_path) > len(best[0]):
                    best = (module_path, folder)
        if best is None:
            return None
        module_path, folder = best
        rel = import_path[len(module_path) :].lstrip("/")
        package_dir = _join(folder, rel) if rel else folder
        for nested in self.nested_roots:
            if _is_within(package_dir, nested) and not _is_within(folder, nested):
                return None  # inside a nested module: not a package of this one
        return package_dir


def _join(folder: str, rel: str) -> str:
    return posixpath.join(folder, rel) if folder else rel


def _is_within(path: str, folder: str) -> bool:
    return folder == "" or path == folder or path.startswith(folder + "/")


def _candidates(folder: str, name: str) -> list[str]:
    parts = [p for p in folder.split("/") if p]
    return [_join("/".join(parts[:i]), name) for i in range(len(parts), -1, -1)]


async def _read(path: str) -> str:
    contents = await Get(DigestContents, PathGlobs([path]))
    return contents[0].content.decode("utf-8", "replace") if contents else ""


def _parse(parse, text: str, path: str) -> ModFile:
    try:
        return parse(text, path)
    except ModFileError as e:
        raise KoError(str(e)) from None


def _local_folder(file_path: str, line: int, directive: str, target: str) -> str:
    """The repository folder a `replace`/`use` names, or a one-line refusal."""
    where = f"{file_path}:{line}"
    if posixpath.isabs(target) or (len(target) > 1 and target[1] == ":"):
        raise KoError(
            f"{where}: `{directive}` points at {target}, an absolute path outside the repository: Pants "
            "cannot track it, so images would be built from whatever is there. Move that module into "
            "the repository and refer to it by a relative path, or depend on a published version."
        )
    folder = posixpath.normpath(posixpath.join(posixpath.dirname(file_path), target))
    if folder == ".." or folder.startswith("../"):
        raise KoError(
            f"{where}: `{directive}` points at {target}, outside the repository: Pants cannot track it, "
            "so images would be built from whatever is there. Move that module into the repository, "
            "or depend on a published version."
        )
    return "" if folder == "." else folder


def _replace_text(r: Replace) -> str:
    old = f"{r.old_path} {r.old_version}".strip()
    return f"replace {old} => {r.new_path}"


@rule(desc="Find the Go module", level=LogLevel.DEBUG)
async def find_go_module(request: GoModuleRequest) -> GoModule:
    paths = await Get(Paths, PathGlobs(_candidates(request.package_dir, "go.mod")))
    found = sorted(paths.files, key=len, reverse=True)
    if not found:
        raise KoError(
            f"no go.mod in {request.package_dir or '.'} or any folder above it; a ko_image "
            "builds a package of a Go module: run `go mod init <module path>` at the module root."
        )
    return await Get(GoModule, GoModuleAt(os.path.dirname(found[0])))


async def _module_path_at(folder: str, referrer: str) -> tuple[str, ModFile]:
    go_mod = _join(folder, "go.mod")
    text = await _read(go_mod)
    if not text:
        raise KoError(f"{referrer}: {go_mod} does not exist; the folder must hold a Go module (go.mod).")
    parsed = _parse(parse_mod, text, go_mod)
    return parsed.module_path or "", parsed


@rule(desc="Read a Go module", level=LogLevel.DEBUG)
async def read_go_module(request: GoModuleAt, ko: KoSubsystem) -> GoModule:
    root = request.root
    go_mod = _join(root, "go.mod")
    own = _parse(parse_mod, await _read(go_mod), go_mod)
    vendor = await Get(Paths, PathGlobs([_join(root, "vendor/modules.txt")]))

    local: list[tuple[str, str]] = [(own.module_path or "", root)]
    replaced_dirs: list[str] = []
    modules_to_read: list[tuple[str, ModFile]] = [(go_mod, own)]

    work_file = None
    if dict(ko.go_env).get("GOWORK") != "off":
        works = await Get(Paths, PathGlobs(_candidates(root, "go.work")))
        if works.files:
            work_file = sorted(works.files, key=len, reverse=True)[0]
    if work_file:
        work = _parse(parse_work, await _read(work_file), work_file)
        use_dirs = [_local_folder(work_file, u.line, f"use {u.path}", u.path) for u in work.uses]
        if root not in use_dirs:
            raise KoError(
                f"{go_mod} is inside the workspace {work_file} but not one of its `use` modules, so "
                f"`go` refuses to build it: add it (`go work use {posixpath.relpath(root or '.', posixpath.dirname(work_file) or '.')}`) "
                'or set `GOWORK = "off"` in [ko].go_env.'
            )
        for folder in use_dirs:
            if folder == root:
                continue
            module_path, parsed = await _module_path_at(folder, f"{work_file}: use {folder}")
            local.append((module_path, folder))
            modules_to_read.append((_join(folder, "go.mod"), parsed))
        # go.work's replaces win over the modules' own (cmd/go/internal/modload).
        for r in work.replaces:
            if r.is_directory:
                folder = _local_folder(work_file, r.line, _replace_text(r), r.new_path)
                local.insert(1, (r.old_path, folder))

    # With -mod=vendor, `go` reads replaced modules from vendor/ (the module's own files), not
    # from the folders `replace` names.
    vendored = bool(vendor.files)
    for file_path, parsed in modules_to_read if not (vendored and work_file is None) else ():
        for r in parsed.replaces:
            if not r.is_directory:
                continue
            folder = _local_folder(file_path, r.line, _replace_text(r), r.new_path)
            if file_path == go_mod:
                replaced_dirs.append(folder)
            if work_file is None and file_path != go_mod:
                continue  # outside a workspace only the main module's replaces apply
            local.append((r.old_path, folder))

    # Every replaced folder must hold a module: go refuses the build otherwise.
    others = sorted({folder for _, folder in local} - {root})
    present = await Get(Paths, PathGlobs([_join(d, "go.mod") for d in others]))
    for module_path, folder in local:
        if folder != root and _join(folder, "go.mod") not in present.files:
            raise KoError(
                f"{go_mod}: {module_path} is replaced by the folder {folder or '.'}, which has no go.mod; "
                "point the `replace` at a Go module of the repository."
            )

    context = []
    for _, folder in local:
        if folder not in context:
            context.append(folder)
    nested = await Get(Paths, PathGlobs([_join(d, "**/go.mod") for d in context]))
    nested_roots = sorted({posixpath.dirname(p) for p in nested.files} - set(context))

    return GoModule(
        root=root,
        module_path=own.module_path or "",
        vendored=vendored,
        local_modules=tuple(local),
        nested_roots=tuple(nested_roots),
        work_file=work_file,
        replaced_dirs=tuple(replaced_dirs),
    )


def rules():
    return collect_rules()
