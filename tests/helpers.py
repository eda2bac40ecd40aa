"""测试共用的工具：仓库根目录、构建命令、目录顺序、外部工具的门槛。"""

import os
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
JB = str(Path(sys.executable).with_name("jupyter-book"))


def book_env(**extra) -> dict:
    """构建与测试内核共用的环境：与 dlbook_build 给内核的环境相同。"""
    from dlbook import QUIET_ENV

    env = dict(os.environ)
    for key, value in QUIET_ENV.items():
        env.setdefault(key, value)
    env.update(extra)
    return env


def run_jupyter_book(*args, cwd=ROOT, timeout=3600, env=None, niceness=0):
    """运行 ``jupyter-book build``，返回 CompletedProcess（不抛出）。

    ``niceness`` > 0 时降低它（及它启动的 xelatex 等）的优先级。
    """
    cmd = [JB, "build", *args]
    if niceness and shutil.which("nice"):
        cmd = ["nice", "-n", str(niceness), *cmd]
    return subprocess.run(
        cmd,
        cwd=cwd,
        env=book_env() if env is None else env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


class BackgroundBuild:
    """在后台线程中运行一次 ``jupyter-book build``；``wait()`` 返回结果。

    它以较低的优先级（nice 10，与后台重新执行的内核相同）运行：前台的
    测试一个接一个，是整个会话的关键路径，后台只用它剩下的 CPU。
    """

    def __init__(self, *args):
        self.args = args
        self._thread = None
        self._outcome = None
        self.seconds = None

    @property
    def started(self) -> bool:
        return self._thread is not None

    def start(self):
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, daemon=True)
            self._thread.start()
        return self

    def _run(self):
        began = time.monotonic()
        try:
            self._outcome = run_jupyter_book(*self.args, niceness=10)
        except Exception as err:  # 在等待它的线程中重新抛出
            self._outcome = err
        self.seconds = time.monotonic() - began

    def wait(self):
        """还没开始就现在开始；等它结束，返回 CompletedProcess。"""
        self.start()
        self._thread.join()
        if isinstance(self._outcome, Exception):
            raise self._outcome
        return self._outcome


def toc_files(root=ROOT) -> list[str]:
    """按顺序列出 ``root/_toc.yml`` 中的全部页面（不含后缀）。"""
    import yaml

    toc = yaml.safe_load((root / "_toc.yml").read_text(encoding="utf-8"))
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


def tools_required() -> bool:
    """CI 中（``.ci/run`` 设置 ``BOOK_REQUIRE_TOOLS=1``）缺工具是错误。"""
    flags = (
        os.environ.get(k, "").lower() for k in ("BOOK_REQUIRE_TOOLS", "CI")
    )
    return any(f in ("1", "true", "yes") for f in flags)


def missing_tools(*tools) -> list[str]:
    """不在 PATH 上的命令（绝对路径则检查文件是否存在）。"""
    return [
        t
        for t in tools
        if not (Path(t).exists() if os.path.isabs(t) else shutil.which(t))
    ]


def skip_unless_tools(*tools, hint: str) -> list[str]:
    """读者机器上缺工具时跳过整个模块；CI 中不跳过，返回缺少的工具。"""
    missing = missing_tools(*tools)
    if missing and not tools_required():
        pytest.skip(f"缺少 {missing}；{hint}", allow_module_level=True)
    return missing


def worked_example_values():
    """手算例子（``dlbook.mlp.worked_example``）的前向与反向的值，按公式
    逐步算出，不经过 ``dlbook.mlp`` 的前向、反向函数，供插图测试核对。

    Returns:
        (params, x, a^[1], ŷ, (δ^[1], δ^[2]))。
    """
    import numpy as np

    from dlbook import mlp
    from dlbook.activations import sigmoid, softmax

    ex = mlp.worked_example()
    p, x = ex["params"], ex["x"][0]
    a1 = sigmoid(p[0]["W"] @ x + p[0]["b"])
    y_hat = softmax(p[1]["W"] @ a1 + p[1]["b"])
    d2 = y_hat - np.array([0.0, 1.0])
    d1 = (p[1]["W"].T @ d2) * a1 * (1 - a1)
    return p, x, a1, y_hat, (d1, d2)


def load_benchmark(name: str):
    """按文件载入 ``benchmarks/<name>.py``（它不是包）。

    基准脚本从同目录导入共用的 ``fingerprint``：直接运行脚本时，Python
    已把脚本所在目录放进 ``sys.path``；这里照样放进去。
    """
    import importlib.util
    import sys

    folder = ROOT / "benchmarks"
    if str(folder) not in sys.path:
        sys.path.insert(0, str(folder))
    spec = importlib.util.spec_from_file_location(name, folder / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
