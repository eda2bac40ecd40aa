"""打包：wheel 里有两个包和样式表，没有会遮蔽标准库的 ``code`` 包。"""

import subprocess
import sys
import zipfile

import pytest

from helpers import ROOT


@pytest.fixture(scope="module")
def wheel(tmp_path_factory):
    import shutil

    # 在副本中构建：setuptools 会在源目录里留下 build/ 与 *.egg-info。
    src = tmp_path_factory.mktemp("src")
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, src / name)
    shutil.copytree(
        ROOT / "code",
        src / "code",
        ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"),
    )
    out = tmp_path_factory.mktemp("wheel")
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "-q",
            "-w",
            str(out),
            str(src),
        ],
        check=True,
        capture_output=True,
        timeout=300,
    )
    (path,) = out.glob("dlbook-*.whl")
    return zipfile.ZipFile(path).namelist()


def test_wheel_holds_both_packages_and_the_stylesheet(wheel):
    tops = {name.split("/")[0] for name in wheel}
    assert {"dlbook", "dlbook_build"} <= tops
    assert "code" not in tops and not any(
        n.startswith("tests/") for n in wheel
    )
    assert "dlbook_build/_static/dlbook.css" in wheel
    assert "dlbook/plotting/__init__.py" in wheel
    assert "dlbook/exercises/__init__.py" in wheel


def test_no_code_package_shadows_the_standard_library():
    assert not (ROOT / "code" / "__init__.py").exists()
    import code

    assert hasattr(code, "InteractiveConsole")  # 标准库的 code 模块
