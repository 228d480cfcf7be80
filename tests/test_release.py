"""Releases never change: once a version is in extension/RELEASES, a change to
sql/ that is not a new version with its upgrade script stops the build (and so
`make test`); the install script of every release is kept, unchanged."""

import hashlib
import shutil
import subprocess
import sys
from pathlib import Path

from conftest import REPO


def checkout_copy(tmp_path: Path) -> Path:
    root = tmp_path / "repo"
    for part in ("sql", "extension", "plpython/xmmdb/__init__.py", "setup/build_extension.py"):
        src, dst = REPO / part, root / part
        dst.parent.mkdir(parents=True, exist_ok=True)
        (shutil.copytree if src.is_dir() else shutil.copy)(src, dst)
    return root


def build(root: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(root / "setup" / "build_extension.py")], capture_output=True, text=True)


def released(root: Path) -> dict[str, str]:
    return dict(line.split()[:2] for line in (root / "extension" / "RELEASES").read_text().splitlines()
                if line.strip() and not line.startswith("#"))


def test_every_release_is_kept_unchanged():
    for version, digest in released(REPO).items():
        script = REPO / "extension" / f"xmmdb--{version}.sql"
        assert hashlib.sha256(script.read_bytes()).hexdigest() == digest, version
        tracked = subprocess.run(["git", "-C", str(REPO), "ls-files", "--error-unmatch", str(script)],
                                 capture_output=True)
        assert tracked.returncode == 0, f"{script.name} is not in git"


def test_a_change_to_a_released_version_stops_the_build(tmp_path):
    root = checkout_copy(tmp_path)
    assert build(root).returncode == 0
    version = next(line.split("'")[1] for line in (root / "extension" / "xmmdb.control").read_text().splitlines()
                   if line.startswith("default_version"))
    if version not in released(root):
        # a version in development: releasing it (as the release step does) arms the guard
        script = root / "extension" / f"xmmdb--{version}.sql"
        with open(root / "extension" / "RELEASES", "a") as f:
            f.write(f"{version} {hashlib.sha256(script.read_bytes()).hexdigest()}\n")
    assert build(root).returncode == 0
    with open(root / "sql" / "11_source.sql", "a") as f:
        f.write("\nCOMMENT ON TABLE xmm.source IS 'changed';\n")
    out = build(root)
    assert out.returncode == 1 and f"sql/ has changed since release {version}" in out.stderr
    assert "sql/upgrade/<new version>/" in out.stderr


def test_the_package_and_the_extension_are_one_version(tmp_path):
    root = checkout_copy(tmp_path)
    init = root / "plpython" / "xmmdb" / "__init__.py"
    init.write_text(init.read_text().replace("__version__ = ", "__version__ = '9.9.9'  # "))
    out = build(root)
    assert out.returncode == 1 and "one release" in out.stderr
