"""测试共用的工具：构建整本书（会话内只构建一次）。"""

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
JB = str(Path(sys.executable).with_name("jupyter-book"))


def run_jupyter_book(*args, cwd=ROOT, timeout=3600):
    """运行 ``jupyter-book build``，返回 CompletedProcess（不抛出）。"""
    env = dict(os.environ)
    env.setdefault("PYTHONHASHSEED", "0")
    return subprocess.run(
        [JB, "build", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def toc_files() -> list[str]:
    """按顺序列出 _toc.yml 中的全部页面（不含后缀）。"""
    import yaml

    toc = yaml.safe_load((ROOT / "_toc.yml").read_text(encoding="utf-8"))
    files = [toc["root"]]

    def walk(entries):
        for entry in entries or []:
            if "file" in entry:
                files.append(entry["file"])
            walk(entry.get("sections"))
            walk(entry.get("chapters"))

    walk(toc.get("parts"))
    walk(toc.get("chapters"))
    return files


@pytest.fixture(scope="session")
def html_build():
    """用与 README 相同的参数构建 HTML，返回 (结果, 输出目录)。"""
    result = run_jupyter_book(".", "-W", "-n", "--keep-going")
    return result, ROOT / "_build" / "html"
