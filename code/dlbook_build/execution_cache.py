"""执行缓存的键：代码、环境变量与依赖版本变了，页面就重新执行。

jupyter-cache 只按页面自己的代码单元计算哈希（见 jupyter-book#1633），
修改 ``code/dlbook``、换数据源（``DLBOOK_MNIST_SOURCE``）或升级
TensorFlow 之后，缓存的页面仍会显示旧结果。本模块把这三样东西算成
一个键：执行缓存放进以该键命名的子目录；键变化时让 Sphinx 重新读取所有
页面，于是每页都会重新执行。
"""

import hashlib
import json
import os
import platform
import shutil
import time
from importlib import metadata
from pathlib import Path

#: 进入缓存键的依赖（它们的版本改变页面的输出）。
KEY_PACKAGES = (
    "tensorflow",
    "tensorflow-cpu",
    "keras",
    "numpy",
    "matplotlib",
)
#: 以此开头的环境变量进入缓存键（例如 ``DLBOOK_MNIST_SOURCE``）。
ENV_PREFIX = "DLBOOK_"
#: 同时保留的缓存子目录个数（切换数据源或分支时不必全部重算）。
KEEP = 3


def tree_hash(paths) -> str:
    """计算若干目录（或文件）中全部 ``.py`` 文件内容的 SHA-256 哈希。

    文件按相对路径排序，路径本身也计入哈希，因此改名、增删文件同样
    会改变结果。``__pycache__`` 被忽略。
    """
    digest = hashlib.sha256()
    for root in sorted(Path(p) for p in paths):
        if root.is_file():
            files = [root]
        elif root.is_dir():
            files = sorted(
                f for f in root.rglob("*.py") if "__pycache__" not in f.parts
            )
        else:
            raise FileNotFoundError(
                f"dlbook_watch_paths 中的路径 {root} 不存在；"
                "请在 _config.yml 的 sphinx.config 中改正它。"
            )
        for f in files:
            rel = f.relative_to(root.parent).as_posix()
            digest.update(rel.encode() + b"\0" + f.read_bytes() + b"\0")
    return digest.hexdigest()


def _version(name: str) -> str | None:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return None


def environment_key(environ=None) -> dict:
    """影响页面输出的环境：``DLBOOK_*`` 变量、Python 与依赖的版本。"""
    environ = os.environ if environ is None else environ
    return {
        "python": platform.python_version(),
        "packages": {name: _version(name) for name in KEY_PACKAGES},
        "env": {
            k: v
            for k, v in sorted(environ.items())
            if k.startswith(ENV_PREFIX)
        },
    }


def cache_key(paths, environ=None) -> str:
    """代码哈希与 :func:`environment_key` 合成的执行缓存键（十六进制）。"""
    payload = json.dumps(
        {"code": tree_hash(paths), "environment": environment_key(environ)},
        sort_keys=True,
    )
    return hashlib.sha256(payload.encode()).hexdigest()


def select_cache_dir(base, key: str, keep: int = KEEP) -> Path:
    """返回键 ``key`` 的缓存子目录，只保留最近用过的 ``keep`` 个。"""
    base = Path(base)
    current = base / f"dlbook-{key[:16]}"
    current.mkdir(parents=True, exist_ok=True)
    others = sorted(
        (d for d in base.glob("dlbook-*") if d != current),
        key=lambda d: d.stat().st_mtime_ns,
        reverse=True,
    )
    # 记下“最近用过”：时间戳严格晚于其他目录。文件系统的时钟粒度可能
    # 粗到几毫秒，连续两次选择会得到相同的 mtime，先后就分不出来了。
    newest = others[0].stat().st_mtime_ns if others else 0
    now = max(time.time_ns(), newest + 1)
    os.utime(current, ns=(now, now))
    for old in others[keep - 1 :]:
        shutil.rmtree(old, ignore_errors=True)
    return current


def on_config_inited(app, config) -> None:
    """算出缓存键，把 myst-nb 的执行缓存指向对应的子目录。"""
    paths = [
        Path(app.confdir, p).resolve() for p in config.dlbook_watch_paths
    ]
    app.dlbook_cache_key = cache_key(paths)
    base = config.nb_execution_cache_path or os.path.join(
        os.path.dirname(os.path.abspath(app.outdir)), ".jupyter_cache"
    )
    current = select_cache_dir(base, app.dlbook_cache_key)
    config.nb_execution_cache_path = str(current)


def on_env_get_outdated(app, env, added, changed, removed) -> list[str]:
    """缓存键与上次读取时不同：让所有页面重新读取（并重新执行）。"""
    if getattr(env, "dlbook_cache_key", None) == app.dlbook_cache_key:
        return []
    env.dlbook_cache_key = app.dlbook_cache_key
    return sorted(env.found_docs - set(added) - set(changed))
