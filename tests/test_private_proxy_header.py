"""Runs the tests of examples/alexandrie-auth-proxy-header with the core suite (dev.py installs only plugins/)."""

import importlib.util
from pathlib import Path

_PATH = Path(__file__).resolve().parents[1] / "examples" / "alexandrie-auth-proxy-header" / "tests" / "test_proxy_header.py"
_spec = importlib.util.spec_from_file_location("example_proxy_header_tests", _PATH)
_module = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_module)

app = _module.app
globals().update({name: value for name, value in vars(_module).items() if name.startswith("test_")})
