"""How far real crate metadata goes: maxima and 99.9th percentiles over a folder of crates.

Standalone (stdlib only, Python 3.11+), to calibrate the default ``[limits]`` so that every real crate passes.
It reads either extracted crate trees (``<name>-<version>/Cargo.toml``, e.g. Debian's ``librust-*-dev`` packages
extracted with ``dpkg-deb -x``: the folder given may be the extraction root, ``usr/share/cargo/registry`` is found
under it) or ``.crate`` files, and prints one table.

    python benchmarks/real_crate_extremes.py /tmp/librust-tree [--upstream] [--json per-crate.json]

What is measured is what cargo would send on ``cargo publish`` of that normalized Cargo.toml: dependencies of all
kinds and targets as separate entries of the publish ``deps`` list, version requirements in the form cargo
writes them (``1.0`` -> ``^1.0``), and the sparse-index line Alexandrie would serve for the version (the key order
and fields of ``alexandrie.services.index_files.index_entry``, with a pubtime; the cksum is 64 hex digits).
A crate lacking a field counts as 0 in the percentiles. Lengths are characters, sizes bytes.

``--upstream`` undoes Debian's patches to Cargo.toml (``debian/patches``, reverse-applied with ``patch``) before
measuring, so the numbers are those of the crate as published, and prints what Debian removed.
"""

import argparse
import json
import math
import os
import re
import shutil
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
import tomllib
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

DEP_TABLES = {"dependencies": "normal", "dev-dependencies": "dev", "dev_dependencies": "dev",
              "build-dependencies": "build", "build_dependencies": "build"}
CRATES_IO_INDEX = "https://github.com/rust-lang/crates.io-index"
PUBTIME = "2024-01-01T00:00:00Z"
DEBIAN_ADDED = {".cargo-checksum.json", "debian"}  # top-level entries of a Debian tree that no .crate has


@dataclass
class CrateSource:
    """One crate version as found on disk: its manifest, its members, and how to read a member."""

    label: str
    manifest: bytes
    files: list[tuple[str, int]]  # (path inside the crate folder, size)
    read: object  # callable(relative path) -> bytes | None
    tree: Path | None = None
    notes: dict = field(default_factory=dict)


# --- Finding crates --------------------------------------------------------------------------------------------


def find_sources(root: Path):
    crate_files = sorted(root.glob("*.crate")) if root.is_dir() else [root]
    if crate_files:
        for path in crate_files:
            yield from _from_crate_file(path)
        return
    for tree in _crate_trees(root):
        yield _from_tree(tree)


def _crate_trees(root: Path) -> list[Path]:
    registry = root / "usr/share/cargo/registry"
    if registry.is_dir():
        root = registry
    if (root / "Cargo.toml").is_file():
        return [root]
    return sorted(p for p in root.iterdir() if (p / "Cargo.toml").is_file())


def _from_tree(tree: Path) -> CrateSource:
    files = []
    for dirpath, dirnames, filenames in os.walk(tree):
        rel_dir = os.path.relpath(dirpath, tree)
        if rel_dir == ".":
            dirnames[:] = [d for d in dirnames if d not in DEBIAN_ADDED]
            filenames = [f for f in filenames if f not in DEBIAN_ADDED]
        for name in filenames:
            full = os.path.join(dirpath, name)
            rel = os.path.normpath(os.path.join(rel_dir, name))
            files.append((rel, os.stat(full).st_size if os.path.exists(full) else os.lstat(full).st_size))

    def read(rel: str) -> bytes | None:
        path = tree / rel
        return path.read_bytes() if path.is_file() else None

    return CrateSource(tree.name, (tree / "Cargo.toml").read_bytes(), files, read, tree)


def _from_crate_file(path: Path):
    with tarfile.open(path, "r:gz") as tar:
        members = [m for m in tar.getmembers() if m.isfile()]
        if not members:
            return
        prefix = members[0].name.split("/", 1)[0]
        contents = {m.name.split("/", 1)[1]: tar.extractfile(m).read() for m in members if "/" in m.name}
    files = [(rel, len(data)) for rel, data in contents.items()]
    if "Cargo.toml" in contents:
        yield CrateSource(prefix, contents["Cargo.toml"], files, contents.get)


# --- Debian's patches ------------------------------------------------------------------------------------------


def upstream_manifest(source: CrateSource) -> tuple[bytes | None, str]:
    """Cargo.toml before Debian's patches (reverse-applied in reverse series order), and what happened."""
    series = source.tree / "debian/patches/series" if source.tree else None
    if series is None or not series.is_file():
        return None, "no debian patches"
    sections = []
    for line in series.read_text(errors="replace").splitlines():
        name = line.split("#", 1)[0].split()
        if name:
            patch_file = series.parent / name[0]
            if patch_file.is_file():
                sections += _cargo_toml_sections(patch_file.read_text(errors="replace"))
    if not sections:
        return None, "patches leave Cargo.toml alone"
    with tempfile.TemporaryDirectory() as scratch:
        copy = Path(scratch) / "Cargo.toml"
        copy.write_bytes(source.manifest)
        for section in reversed(sections):
            done = subprocess.run(["patch", "-R", "-f", "-s", "--no-backup-if-mismatch", "-r", "-", str(copy)],
                                  input=section, capture_output=True, text=True)
            if done.returncode != 0:
                return None, "reverse patch failed (Debian's kept)"
        return copy.read_bytes(), "Cargo.toml patched"


def _cargo_toml_sections(patch_text: str) -> list[str]:
    """The per-file parts of a patch whose target is the top-level Cargo.toml."""
    lines = patch_text.splitlines(keepends=True)
    starts = [i for i in range(len(lines) - 1) if lines[i].startswith("--- ") and lines[i + 1].startswith("+++ ")]
    sections = []
    for n, start in enumerate(starts):
        end = starts[n + 1] if n + 1 < len(starts) else len(lines)
        target = lines[start + 1][4:].split("\t")[0].strip()
        parts = target.split("/")
        if target == "Cargo.toml" or (len(parts) == 2 and parts[1] == "Cargo.toml"):
            body = lines[start:end]
            while body and not body[-1].startswith((" ", "+", "-", "@", "\\")):
                body.pop()  # the next file's "diff --git"/"Index:" header
            sections.append("".join(body))
    return sections


def undo_debian_patches(source: CrateSource, manifest: dict, changes: dict, outcomes: Counter) -> dict:
    """The upstream manifest where Debian's patches reverse cleanly into valid TOML, else Debian's."""
    original, outcome = upstream_manifest(source)
    if original is not None:
        try:
            upstream = tomllib.loads(original.decode())
        except (tomllib.TOMLDecodeError, UnicodeDecodeError):
            # Zero-context hunks that Debian applied at an offset reverse at the wrong line.
            outcome, upstream = "reverse patch gave invalid TOML (Debian's kept)", None
        if upstream is not None:
            changes[source.label] = manifest_changes(manifest, upstream)
            manifest = upstream
    outcomes[outcome] += 1
    return manifest


def manifest_changes(patched: dict, upstream: dict) -> dict:
    features_removed = set(upstream.get("features", {})) - set(patched.get("features", {}))
    deps_patched = {(d["kind"], d["target"], d["name"]) for d in publish_deps(patched)}
    deps_upstream = {(d["kind"], d["target"], d["name"]) for d in publish_deps(upstream)}
    return {"features_removed": sorted(features_removed), "deps_removed": sorted(map(str, deps_upstream - deps_patched)),
            "deps_added": sorted(map(str, deps_patched - deps_upstream))}


# --- What cargo would send ---------------------------------------------------------------------------------------


def publish_deps(manifest: dict) -> list[dict]:
    """The publish ``deps`` list: one entry per (table, target, dependency)."""
    deps = []
    for table, kind in DEP_TABLES.items():
        deps += [_publish_dep(key, spec, kind, None) for key, spec in manifest.get(table, {}).items()]
    for target, tables in manifest.get("target", {}).items():
        for table, kind in DEP_TABLES.items():
            deps += [_publish_dep(key, spec, kind, target) for key, spec in tables.get(table, {}).items()]
    return deps


def _publish_dep(key: str, spec, kind: str, target: str | None) -> dict:
    if isinstance(spec, str):
        spec = {"version": spec}
    package = spec.get("package")
    return {
        "optional": bool(spec.get("optional", False)),
        "default_features": bool(spec.get("default-features", spec.get("default_features", True))),
        "name": package or key,
        "features": list(spec.get("features", [])),
        "version_req": sent_req(spec.get("version", "*")),
        "raw_req": spec.get("version", "*"),
        "target": target,
        "kind": kind,
        "registry": spec.get("registry-index"),
        "explicit_name_in_toml": key if package else None,
    }


def sent_req(raw: str) -> str:
    """A requirement as cargo sends it (semver's Display): ``1.0`` -> ``^1.0``, ``>= 1, < 2`` -> ``>=1, <2``."""
    raw = raw.strip()
    if raw in ("", "*"):
        return "*"
    parts = []
    for comparator in raw.split(","):
        op, version = re.match(r"\s*(>=|<=|=|>|<|~|\^)?\s*(.*)", comparator).groups()
        version = re.sub(r"(^|\.)[xX](?=$|\.)", r"\1*", version.strip())
        parts.append((op or ("" if "*" in version else "^")) + version)
    return ", ".join(parts)


def index_dep(dep: dict, registry: str | None) -> dict:
    """A publish dep in index form, as ``alexandrie.rules.metadata.index_dependency`` stores it."""
    return {"name": dep["explicit_name_in_toml"] or dep["name"], "req": dep["version_req"],
            "features": dep["features"], "optional": dep["optional"], "default_features": dep["default_features"],
            "target": dep["target"], "kind": dep["kind"], "registry": dep["registry"] or registry,
            "package": dep["name"] if dep["explicit_name_in_toml"] else None}


def index_line(package: dict, deps: list[dict], features: dict, registry: str | None) -> str:
    new_syntax = {k: v for k, v in features.items() if any(e.startswith("dep:") or "?/" in e for e in v)}
    entry = {"name": package["name"], "vers": package["version"], "deps": [index_dep(d, registry) for d in deps],
             "cksum": "0" * 64, "features": {k: v for k, v in features.items() if k not in new_syntax}}
    if new_syntax:
        entry["features2"] = new_syntax
    entry.update({"yanked": False, "links": package.get("links"), "v": 2 if new_syntax else 1,
                  "rust_version": package.get("rust-version"), "pubtime": PUBTIME})
    return json.dumps(entry, separators=(",", ":"))


def publish_metadata(package: dict, manifest: dict, deps: list[dict], readme: str | None) -> bytes:
    """The JSON half of cargo's publish body (serde_json: compact, UTF-8 unescaped)."""
    meta = {"name": package["name"], "vers": package["version"],
            "deps": [{k: v for k, v in d.items() if k != "raw_req"} for d in deps],
            "features": manifest.get("features", {}), "authors": package.get("authors", []),
            "description": package.get("description"), "documentation": package.get("documentation"),
            "homepage": package.get("homepage"), "readme": readme, "readme_file": package.get("readme"),
            "keywords": package.get("keywords", []), "categories": package.get("categories", []),
            "license": package.get("license"), "license_file": package.get("license-file"),
            "repository": package.get("repository"), "badges": manifest.get("badges", {}),
            "links": package.get("links"), "rust_version": package.get("rust-version")}
    return json.dumps(meta, separators=(",", ":"), ensure_ascii=False).encode()


def readme_text(package: dict, source: CrateSource) -> str | None:
    wanted = package.get("readme", True)
    if wanted is False:
        return None
    names = [wanted] if isinstance(wanted, str) else ["README.md", "README.txt", "README"]
    for name in names:
        rel = os.path.normpath(name)
        data = source.read(rel) or source.read(os.path.basename(rel))
        if data is not None:
            return data.decode("utf-8", errors="replace")
    return None


# --- Measuring -------------------------------------------------------------------------------------------------

# (key, label) in table order; each measure returns {key: (number, example string or None)}.
METRICS = [
    ("features", "features (count)"),
    ("feature_name", "longest feature name"),
    ("feature_list", "longest feature list (entries)"),
    ("feature_entry", "longest entry in a feature list"),
    ("deps", "dependencies, publish `deps` entries"),
    ("dep_target", "longest dep `target` string"),
    ("dep_req", "longest version req (as cargo sends it)"),
    ("dep_req_raw", "longest version req (as in Cargo.toml)"),
    ("dep_name", "longest dependency name (key or package)"),
    ("dep_features", "most features enabled on one dep"),
    ("description", "description (characters)"),
    ("keywords", "keywords (count)"),
    ("keyword", "longest keyword"),
    ("categories", "categories (count)"),
    ("category", "longest category"),
    ("authors", "authors (count)"),
    ("author", "longest author string"),
    ("homepage", "longest homepage URL"),
    ("repository", "longest repository URL"),
    ("documentation", "longest documentation URL"),
    ("license", "longest license expression"),
    ("license_file", "longest license-file path"),
    ("links", "`links` length"),
    ("rust_version", "`rust-version` length"),
    ("readme", "README sent with publish (bytes)"),
    ("index_line", "index line (bytes), deps' registry null"),
    ("index_line_alt", "index line (bytes), deps' registry = crates.io"),
    ("publish_json", "publish metadata JSON (bytes)"),
    ("manifest", "Cargo.toml (bytes)"),
    ("files", "files in the crate"),
    ("unpacked", "unpacked size (bytes)"),
    ("member_path", "longest member path (bytes)"),
]


def _longest(values) -> tuple[int, str | None]:
    values = [v for v in values if isinstance(v, str)]
    best = max(values, key=len, default=None)
    return (len(best), best) if best is not None else (0, None)


def _most(items) -> tuple[int, str | None]:
    best = max(items, key=lambda kv: len(kv[1]), default=None)
    return (len(best[1]), best[0]) if best else (0, None)


def measure(source: CrateSource, manifest: dict) -> dict:
    package = manifest["package"]
    features = manifest.get("features", {})
    deps = publish_deps(manifest)
    entries = [e for values in features.values() for e in values]
    readme = readme_text(package, source)
    vers = f"{package['name']}-{package['version']}"
    return {
        "features": (len(features), None),
        "feature_name": _longest(features),
        "feature_list": _most(features.items()),
        "feature_entry": _longest(entries),
        "deps": (len(deps), None),
        "dep_target": _longest(d["target"] for d in deps),
        "dep_req": _longest(d["version_req"] for d in deps),
        "dep_req_raw": _longest(d["raw_req"] for d in deps),
        "dep_name": _longest([d["name"] for d in deps] + [d["explicit_name_in_toml"] for d in deps]),
        "dep_features": _most((d["name"], d["features"]) for d in deps),
        "description": _longest([package.get("description")]),
        "keywords": (len(package.get("keywords", [])), None),
        "keyword": _longest(package.get("keywords", [])),
        "categories": (len(package.get("categories", [])), None),
        "category": _longest(package.get("categories", [])),
        "authors": (len(package.get("authors", [])), None),
        "author": _longest(package.get("authors", [])),
        "homepage": _longest([package.get("homepage")]),
        "repository": _longest([package.get("repository")]),
        "documentation": _longest([package.get("documentation")]),
        "license": _longest([package.get("license")]),
        "license_file": _longest([package.get("license-file")]),
        "links": _longest([package.get("links")]),
        "rust_version": _longest([package.get("rust-version")]),
        "readme": (len(readme.encode()) if readme else 0, None),
        "index_line": (len(index_line(package, deps, features, None)), None),
        "index_line_alt": (len(index_line(package, deps, features, CRATES_IO_INDEX)), None),
        "publish_json": (len(publish_metadata(package, manifest, deps, readme)), None),
        "manifest": (len(source.manifest), None),
        "files": (len(source.files), None),
        "unpacked": (sum(size for _, size in source.files), None),
        "member_path": _longest([f"{vers}/{rel}" for rel, _ in source.files]),
    }


def percentile(sorted_values: list[int], p: float) -> int:
    """Nearest rank."""
    return sorted_values[max(0, math.ceil(p / 100 * len(sorted_values)) - 1)]


def rust_version_form(value: str | None) -> str:
    if value is None:
        return "(none)"
    for form, pattern in (("N.N", r"\d+\.\d+"), ("N.N.N", r"\d+\.\d+\.\d+"), ("N", r"\d+")):
        if re.fullmatch(pattern, value):
            return form
    return f"other: {value!r}"


# --- Output ----------------------------------------------------------------------------------------------------


def print_table(rows: dict[str, dict]) -> None:
    print(f"{'metric':<48} {'max':>9} {'p99.9':>9} {'p99':>8} {'median':>7}  crate holding the max: example")
    print("-" * 130)
    for key, label in METRICS:
        values = sorted(r[key][0] for r in rows.values())
        holder = max(rows, key=lambda crate: rows[crate][key][0])
        example = rows[holder][key][1]
        shown = f": {example[:60]!r}{'...' if len(example) > 60 else ''}" if example else ""
        print(f"{label:<48} {values[-1]:>9} {percentile(values, 99.9):>9} {percentile(values, 99):>8} "
              f"{statistics.median(values):>7.1f}  {holder}{shown}")


def print_patch_summary(changes: dict[str, dict], outcomes: Counter) -> None:
    print("\nDebian patches (debian/patches, reverse-applied to Cargo.toml):")
    for outcome, count in sorted(outcomes.items()):
        print(f"  {outcome}: {count}")
    for kind in ("features_removed", "deps_removed", "deps_added"):
        hit = {crate: c[kind] for crate, c in changes.items() if c[kind]}
        print(f"  crates with {kind.replace('_', ' ')}: {len(hit)} ({sum(map(len, hit.values()))} in all)")
        for crate, items in sorted(hit.items(), key=lambda kv: -len(kv[1]))[:8]:
            print(f"    {crate}: {len(items)}: {', '.join(items)[:100]}")


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("root", type=Path, help="folder of extracted crate trees or of .crate files (or one .crate)")
    parser.add_argument("--upstream", action="store_true", help="undo Debian's Cargo.toml patches before measuring")
    parser.add_argument("--json", type=Path, help="write the per-crate numbers to this file")
    args = parser.parse_args(argv)
    if args.upstream and not shutil.which("patch"):
        sys.exit("--upstream needs `patch` (apt-get install patch)")
    started = time.monotonic()
    rows, forms, changes, outcomes, unreadable = {}, Counter(), {}, Counter(), []
    for source in find_sources(args.root):
        try:
            manifest = tomllib.loads(source.manifest.decode())
            if args.upstream:
                manifest = undo_debian_patches(source, manifest, changes, outcomes)
            label = f"{manifest['package']['name']}@{manifest['package']['version']}"
            rows[label] = measure(source, manifest)
            forms[rust_version_form(manifest["package"].get("rust-version"))] += 1
        except (tomllib.TOMLDecodeError, KeyError, UnicodeDecodeError) as problem:
            unreadable.append(f"{source.label}: {problem!r}")
    if not rows:
        sys.exit(f"no crate found under {args.root}")
    print(f"crate versions measured: {len(rows)} (unreadable: {len(unreadable)}) from {args.root}"
          f"{' with Debian Cargo.toml patches undone' if args.upstream else ''}\n")
    print_table(rows)
    print("\nrust-version forms: " + ", ".join(f"{form} x{count}" for form, count in forms.most_common()))
    for line in unreadable:
        print(f"unreadable: {line}")
    if args.upstream:
        print_patch_summary(changes, outcomes)
    if args.json:
        args.json.write_text(json.dumps({crate: {k: v[0] for k, v in r.items()} for crate, r in rows.items()}))
    print(f"\nmeasured in {time.monotonic() - started:.1f} s")


if __name__ == "__main__":
    main()
