"""Unit tests for crate-name rules (naming.py) and strict SemVer (versions.py)."""

import random

import pytest

from alexandrie.rules.names import RESERVED_NAMES, canonical_name, index_path, name_problem, reserved_name_problem
from alexandrie.rules.versions import SemVer, max_version, version_problem, without_build

# --- naming.py -----------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["a", "A", "serde", "serde_json", "My-Crate", "x1", "a-", "a_", "a--b",
                                  "z" * 64, "std2", "stdx", "coreutils", "com10"])
def test_valid_names(name):
    assert name_problem(name) is None


@pytest.mark.parametrize("name, words", [
    ("", "empty"),
    ("z" * 65, "longer than 64"),
    ("1abc", "starting with a letter"),
    ("-abc", "starting with a letter"),
    ("_abc", "starting with a letter"),
    ("a b", "not a valid crate name"),
    ("a.b", "not a valid crate name"),
    ("a/b", "not a valid crate name"),
    ("a+b", "not a valid crate name"),
    ("\u00e9t\u00e9", "not a valid crate name"),
    ("\u0430bc", "not a valid crate name"),  # Cyrillic a
    ("abc\n", "not a valid crate name"),
    ("std", "reserved"),
    ("STD", "reserved"),
    ("proc-macro", "reserved"),
    ("proc_macro", "reserved"),
    ("Compiler_Builtins", "reserved"),
    ("nul", "reserved"),
    ("aux", "reserved"),
    ("Con", "reserved"),
    ("prn", "reserved"),
    ("com0", "reserved"),
    ("LPT9", "reserved"),
])
def test_invalid_and_reserved_names(name, words):
    problem = name_problem(name) or reserved_name_problem(name)
    assert problem is not None and words in problem


def test_every_reserved_name_is_refused_in_every_spelling():
    for name in RESERVED_NAMES:
        for spelling in (name, name.upper(), name.replace("_", "-"), name.replace("-", "_")):
            assert "reserved" in reserved_name_problem(spelling), spelling
            assert name_problem(spelling) is None, spelling


@pytest.mark.parametrize("a, b", [("Foo-Bar", "foo_bar"), ("FOO_BAR", "foo-bar"), ("a-b_c", "A_B-C")])
def test_canonical_names_collide(a, b):
    assert canonical_name(a) == canonical_name(b)


def test_canonical_names_keep_distinct_crates_apart():
    assert canonical_name("foobar") != canonical_name("foo_bar")
    assert canonical_name("foo-bar") == "foo_bar"


@pytest.mark.parametrize("name, path", [
    ("a", "1/a"), ("A", "1/a"), ("ab", "2/ab"), ("abc", "3/a/abc"), ("Abc", "3/a/abc"), ("abcd", "ab/cd/abcd"),
    ("My-Crate", "my/-c/my-crate"), ("serde_json", "se/rd/serde_json"), ("z" * 64, "zz/zz/" + "z" * 64),
])
def test_index_paths_follow_crates_io(name, path):
    assert index_path(name) == path


# --- versions.py -------------------------------------------------------------------------------------------


@pytest.mark.parametrize("text", [
    "0.0.0", "1.2.3", "10.20.30", "1.0.0-alpha", "1.0.0-alpha.1", "1.0.0-0.3.7", "1.0.0-x.7.z.92",
    "1.0.0-x-y-z.--", "1.0.0-alpha+001", "1.0.0+20130313144700", "1.0.0-beta+exp.sha.5114f85",
    "1.0.0+21AF26D3----117B344092BD", "1.0.0-0A.is.legal", "1.1.2+meta-valid", "1.0.0-rc.1+build.123",
    "18446744073709551615.0.0", "0.0.18446744073709551615",
])
def test_strict_semver_accepts(text):
    assert version_problem(text) is None
    SemVer(text)


@pytest.mark.parametrize("text", [
    "", "1", "1.2", "1.2.3.4", "v1.2.3", "=1.2.3", "01.1.1", "1.01.1", "1.1.01", "1.2.3-", "1.2.3+",
    "1.2.3-0123", "1.2.3-0123.0123", "1.2.3-alpha..1", "1.2.3-alpha_beta", "1.2.3+build+2", "1.2.3+build..2",
    "+invalid", "-invalid", "1.2.3 ", " 1.2.3", "1.2.3\n", "1.2.3-\u00e9", "1.2", "1.2.x", "1.2.*",
    "18446744073709551616.0.0", "0.18446744073709551616.0", "0.0.99999999999999999999",
    "1.0.0-" + "a" * 150,
])
def test_strict_semver_refuses(text):
    assert version_problem(text) is not None
    with pytest.raises(ValueError):
        SemVer(text)


def test_precedence_follows_the_semver_spec_example():
    ordered = ["1.0.0-alpha", "1.0.0-alpha.1", "1.0.0-alpha.beta", "1.0.0-beta", "1.0.0-beta.2",
               "1.0.0-beta.11", "1.0.0-rc.1", "1.0.0"]
    for _ in range(20):
        shuffled = random.sample(ordered, len(ordered))
        assert [v.text for v in sorted(SemVer(t) for t in shuffled)] == ordered
    for low, high in zip(ordered, ordered[1:]):
        assert SemVer(low) < SemVer(high) and not SemVer(high) < SemVer(low)


@pytest.mark.parametrize("low, high", [
    ("1.0.0", "2.0.0"), ("2.0.0", "2.1.0"), ("2.1.0", "2.1.1"), ("1.9.0", "1.10.0"), ("1.0.9", "1.0.10"),
    ("0.9.99", "1.0.0-alpha"),
    ("1.0.0-2", "1.0.0-10"),  # numeric identifiers compare as numbers
    ("1.0.0-10", "1.0.0-9a"),  # numeric identifiers sort before alphanumeric ones
    ("1.0.0-B", "1.0.0-a"),  # alphanumeric identifiers compare in ASCII order
    ("1.0.0-alpha", "1.0.0-alpha.0"),  # a longer set of identifiers wins when the rest are equal
    ("1.0.0-rc.1", "1.0.0"),
    ("18446744073709551614.0.0", "18446744073709551615.0.0"),
])
def test_ordering(low, high):
    assert SemVer(low) < SemVer(high)
    assert SemVer(high) > SemVer(low)


def test_build_metadata_is_ignored_for_precedence():
    assert SemVer("1.0.0+a") == SemVer("1.0.0+b") == SemVer("1.0.0")
    assert hash(SemVer("1.0.0+a")) == hash(SemVer("1.0.0"))
    assert SemVer("1.0.0-rc.1+x") < SemVer("1.0.0+x")


def test_without_build():
    assert without_build("1.0.0+build.5") == "1.0.0"
    assert without_build("1.0.0-rc.1+b") == "1.0.0-rc.1"
    assert without_build("1.0.0") == "1.0.0"


def test_is_prerelease():
    assert SemVer("1.0.0-alpha").is_prerelease
    assert not SemVer("1.0.0").is_prerelease
    assert not SemVer("1.0.0+build").is_prerelease


def test_max_version_prefers_releases():
    assert max_version(["1.0.0", "2.0.0-alpha", "1.5.0"]) == "1.5.0"
    assert max_version(["1.0.0-alpha", "1.0.0-beta"]) == "1.0.0-beta"
    assert max_version(["1.0.0", "2.0.0-alpha"], prefer_release=False) == "2.0.0-alpha"
    assert max_version(["0.10.0", "0.9.0", "0.2.0"]) == "0.10.0"
    assert max_version([]) is None


def test_the_storage_contract_fails_when_a_reader_thread_fails():
    """A reader thread's exception would only warn; the contract test must fail on it."""
    import threading

    from alexandrie.testing import StorageContract

    class ReadsBreakUnderConcurrency:
        def __init__(self):
            self.files = {}

        def store_crate(self, name, version, data):
            self.files[(name, version)] = data

        def read_crate(self, name, version):
            if threading.current_thread() is not threading.main_thread():
                raise OSError("torn read")
            return self.files[(name, version)]

    with pytest.raises(AssertionError):
        StorageContract().test_concurrent_readers_never_see_partial_files(ReadsBreakUnderConcurrency())
