"""What a ``.crate`` file's normalized ``Cargo.toml`` says, in the shape ``cargo publish`` would have sent."""

CRATES_IO_INDEX = "https://github.com/rust-lang/crates.io-index"
CRATES_IO_URLS = {CRATES_IO_INDEX, CRATES_IO_INDEX + ".git", "sparse+https://index.crates.io/",
                  "https://index.crates.io/"}
DEP_TABLES = (("dependencies", "normal"), ("dev-dependencies", "dev"), ("build-dependencies", "build"),
              ("dev_dependencies", "dev"), ("build_dependencies", "build"))


def readme_path(manifest: dict) -> str | None:
    """The README's path inside the package: ``readme = false`` means none, absent means README.md."""
    readme = manifest.get("package", {}).get("readme")
    if readme is False:
        return None
    return readme if isinstance(readme, str) else "README.md"


def publish_metadata(manifest: dict, readme: bytes | None, readme_file: str | None) -> dict:
    """The publish JSON cargo would have sent for this manifest (dependencies still name their registry)."""
    package = manifest["package"]
    return {
        "name": package["name"], "vers": str(package["version"]),
        "deps": list(dependencies(manifest)),
        "features": manifest.get("features", {}),
        "authors": string_list(package.get("authors")),
        "description": package.get("description"), "documentation": package.get("documentation"),
        "homepage": package.get("homepage"), "repository": package.get("repository"),
        "license": package.get("license"), "license_file": package.get("license-file"),
        "readme": readme.decode("utf-8", "replace") if readme else None,
        "readme_file": readme_file if readme else None,
        "keywords": package.get("keywords", []), "categories": package.get("categories", []),
        "badges": {}, "links": package.get("links"),
        "rust_version": str(package["rust-version"]) if package.get("rust-version") else None,
    }


def text_fields(package: dict) -> dict:
    """The descriptive strings of ``[package]``; anything that is not a string is left out."""
    def text(key):
        value = package.get(key)
        return value if isinstance(value, str) else None

    return {"description": text("description"), "license": text("license"), "license_file": text("license-file"),
            "homepage": text("homepage"), "documentation": text("documentation"), "repository": text("repository")}


def string_list(value) -> list[str]:
    return [v for v in value if isinstance(v, str)] if isinstance(value, list) else []


def dependencies(manifest: dict):
    """Every dependency table, the target-specific ones included, as publish dependencies."""
    yield from _table_deps(manifest, None)
    for target, tables in (manifest.get("target") or {}).items():
        yield from _table_deps(tables, target)


def _table_deps(tables: dict, target: str | None):
    for table, kind in DEP_TABLES:
        for alias, spec in (tables.get(table) or {}).items():
            spec = {"version": spec} if isinstance(spec, str) else spec
            real = spec.get("package", alias)
            yield {
                "name": real, "version_req": _req(spec.get("version", "*")),
                "features": spec.get("features", []), "optional": spec.get("optional", False),
                "default_features": spec.get("default-features", spec.get("default_features", True)),
                "target": target, "kind": kind, "registry": spec.get("registry-index", CRATES_IO_INDEX),
                **({"explicit_name_in_toml": alias} if real != alias else {}),
            }


def _req(req: str) -> str:
    """Cargo writes a bare ``1.2`` as ``^1.2`` in the index."""
    req = req.strip()
    return f"^{req}" if req[:1].isdigit() else req


def localise(dep: dict, mirror: bool, foreign_indexes: set[str]) -> dict:
    """An index dependency as this registry records it: crates.io stays crates.io (local in a mirror);
    other registries become this one, unless ``foreign_indexes`` keeps them."""
    registry = dep["registry"]
    if registry in CRATES_IO_URLS:
        return {**dep, "registry": None if mirror else CRATES_IO_INDEX}
    if registry in foreign_indexes:
        return dep
    return {**dep, "registry": None}
