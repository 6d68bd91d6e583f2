"""Crate-name rules (crates.io's), canonical names and sparse index paths."""

import re

MAX_NAME_LENGTH = 64
NAME_PATTERN = re.compile(r"[A-Za-z][A-Za-z0-9_-]*")

RESERVED_NAMES = frozenset(
    """alloc arena ast builtins collections compiler-builtins compiler-rt compiletest core coretest
    debug driver flate fmt_macros grammar graphviz macro macros proc_macro rbml rust-installer
    rustbook rustc rustc_back rustc_borrowck rustc_driver rustc_llvm rustc_resolve rustc_trans
    rustc_typeck rustdoc rustllvm rustuv serialize std syntax test unicode nul con prn aux""".split()
    + [f"com{i}" for i in range(10)]
    + [f"lpt{i}" for i in range(10)]
)
RESERVED_CANONICAL = frozenset(name.lower().replace("-", "_") for name in RESERVED_NAMES)


def canonical_name(name: str) -> str:
    """``Foo-Bar``, ``foo_bar`` and ``FOO-BAR`` are one crate."""
    return name.lower().replace("-", "_")


def name_problem(name: str) -> str | None:
    """Why ``name`` cannot be a crate name, or None when it can (reserved names aside)."""
    if not name:
        return "the crate name is empty"
    if len(name) > MAX_NAME_LENGTH:
        return f"the crate name `{name[:80]}` is longer than {MAX_NAME_LENGTH} characters"
    if not NAME_PATTERN.fullmatch(name):
        return (f"`{name[:80]}` is not a valid crate name: use ASCII letters, digits, `-` and `_`, "
                "starting with a letter")
    return None


def reserved_name_problem(name: str) -> str | None:
    """Why a new crate may not take ``name``; crates that already hold a reserved name keep it (crates.io
    reserved some after they were taken), so imports and later versions do not ask."""
    if canonical_name(name) in RESERVED_CANONICAL:
        return f"`{name}` is a reserved name (Rust internals or a Windows device name); pick another"
    return None


def index_path(name: str) -> str:
    """The lowercase path of a crate's file in a crates.io-format index."""
    lower = name.lower()
    if len(lower) <= 2:
        return f"{len(lower)}/{lower}"
    if len(lower) == 3:
        return f"3/{lower[0]}/{lower}"
    return f"{lower[:2]}/{lower[2:4]}/{lower}"
