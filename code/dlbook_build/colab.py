"""在 Google Colab 上打开本书的页面。

Colab 只能打开 GitHub 仓库里的 ``.ipynb`` 文件，而本书的页面是 MyST
Markdown 文本。因此发布网站时（``.github/workflows/pages.yml``），
本模块把构建时执行过的笔记本（``_build/jupyter_execute``）导出为一组
“Colab 版”笔记本，推送到仓库的一个分支（``_config.yml`` 的
``dlbook_colab_branch``，默认 ``notebooks``）；每页的“Colab”启动
按钮（见 :mod:`dlbook_build`）指向那里的同名文件。

导出在笔记本最前面插入一个安装单元。它在 Colab 上用 pip 从本书仓库安装
``dlbook``（Colab 自带 TensorFlow、NumPy 等，只补装它缺少的包）；在别处
运行时什么也不做。其余单元与输出原样保留：构建时
:mod:`~dlbook_build.notebooks` 已把其中的 MyST 语法换成普通 Markdown
（代码、数值、公式编号、术语的英文），导出前再检查一遍，有残留就报错。

用法（在仓库根目录，先构建网页）::

    python -m dlbook_build.colab _build/jupyter_execute _build/colab \\
        --repo https://github.com/dlbook-zh/lesson12 --ref main
"""

import argparse
import json
from pathlib import Path

from . import notebooks

#: Colab 打开 GitHub 上笔记本的网址前缀。
COLAB_URL = "https://colab.research.google.com/github"
#: 存放 Colab 版笔记本的分支（``_config.yml`` 可用 ``dlbook_colab_branch``
#: 改写；网页按钮与发布工作流都读那里的值，见 :func:`configured_branch`）。
DEFAULT_BRANCH = "notebooks"
#: 安装单元的标签，便于识别（也避免重复插入）。
SETUP_TAG = "dlbook-colab-setup"
#: Colab 缺少、而 dlbook 需要的包。
COLAB_EXTRA_PACKAGES = ("mplfonts", "mlxtend")


def split_github_url(repo_url: str) -> tuple[str, str]:
    """把 ``https://github.com/组织/仓库`` 拆成 (组织, 仓库)。

    Raises:
        ValueError: 网址不是 GitHub 仓库的网址（Colab 只支持 GitHub）。
    """
    url = repo_url.strip().rstrip("/")
    if url.endswith(".git"):
        url = url[: -len(".git")]
    prefix = "https://github.com/"
    parts = url[len(prefix) :].split("/") if url.startswith(prefix) else []
    if len(parts) != 2 or not all(parts):
        raise ValueError(
            f"Colab 只能打开 GitHub 仓库中的笔记本，{repo_url!r} 不是形如 "
            "https://github.com/组织/仓库 的网址；请检查 _config.yml 的 "
            "repository.url。"
        )
    return parts[0], parts[1]


def configured_branch(config_path="_config.yml") -> str:
    """``_config.yml`` 中 ``sphinx.config.dlbook_colab_branch`` 的值。

    网页上的 Colab 按钮（:mod:`dlbook_build`）和发布工作流推送笔记本的
    分支都取这个值，改分支名只需改 ``_config.yml`` 一处。未设置时为
    :data:`DEFAULT_BRANCH`。

    Raises:
        FileNotFoundError: 配置文件不存在（应在仓库根目录运行）。
    """
    import yaml

    path = Path(config_path)
    if not path.is_file():
        raise FileNotFoundError(
            f"找不到配置文件 {path}；请在仓库根目录运行，或传入它的路径。"
        )
    config = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    sphinx_config = (config.get("sphinx") or {}).get("config") or {}
    return str(sphinx_config.get("dlbook_colab_branch", DEFAULT_BRANCH))


def colab_url(repo_url: str, pagename: str, branch=DEFAULT_BRANCH) -> str:
    """页面 ``pagename``（如 ``book/saving/index``）的 Colab 网址。"""
    org, repo = split_github_url(repo_url)
    return f"{COLAB_URL}/{org}/{repo}/blob/{branch}/{pagename}.ipynb"


def setup_source(repo_url: str, ref: str) -> str:
    """安装单元的源代码：只在 Colab 中安装 dlbook 及它缺少的包。"""
    split_github_url(repo_url)  # 尽早报告错误的网址
    spec = f"dlbook @ git+{repo_url.rstrip('/')}@{ref}"
    extras = ", ".join(repr(p) for p in COLAB_EXTRA_PACKAGES)
    return (
        "# 在 Google Colab 上运行时，先安装本书的代码包 dlbook；"
        "在本地运行则什么也不做。\n"
        "# 本书在 Python 3.11、TensorFlow 2.21 上构建与测试；"
        "Colab 自带的版本可能不同，\n"
        "# 数字因此可能与书中略有出入。\n"
        "import subprocess\n"
        "import sys\n"
        "\n"
        'if "google.colab" in sys.modules:\n'
        '    pip = [sys.executable, "-m", "pip", "install", "-q"]\n'
        f"    subprocess.run([*pip, {extras}], check=True)\n"
        "    subprocess.run(\n"
        '        [*pip, "--no-deps", "--ignore-requires-python", '
        f"{spec!r}],\n"
        "        check=True,\n"
        "    )\n"
    )


def add_setup_cell(notebook: dict, repo_url: str, ref: str) -> dict:
    """返回插入了安装单元的笔记本副本（已有安装单元则替换它）。"""
    nb = json.loads(json.dumps(notebook))  # 深拷贝，不改动输入
    cells = [
        c
        for c in nb.get("cells", [])
        if SETUP_TAG not in c.get("metadata", {}).get("tags", [])
    ]
    cell = {
        "cell_type": "code",
        "execution_count": None,
        "metadata": {"tags": [SETUP_TAG]},
        "outputs": [],
        "source": setup_source(repo_url, ref),
    }
    if nb.get("nbformat", 4) == 4 and nb.get("nbformat_minor", 0) >= 5:
        cell["id"] = SETUP_TAG
    nb["cells"] = [cell, *cells]
    return nb


def export_notebooks(
    src_dir, out_dir, repo_url: str, ref: str = "main"
) -> list[Path]:
    """把 ``src_dir`` 下执行过的笔记本导出为 Colab 版，写到 ``out_dir``。

    目录结构保持不变，因此 ``out_dir/book/saving/index.ipynb`` 对应页面
    ``book/saving/index``。

    Returns:
        写出的笔记本路径（排好序）。

    Raises:
        FileNotFoundError: ``src_dir`` 不存在或其中没有笔记本（先构建网页）。
        ValueError: 某个文件不是合法的 JSON 笔记本（信息中给出文件名），
            或其中残留 MyST 语法（构建时没有加载 dlbook_build）。
    """
    src, out = Path(src_dir), Path(out_dir)
    sources = sorted(src.rglob("*.ipynb")) if src.is_dir() else []
    sources = [p for p in sources if ".ipynb_checkpoints" not in p.parts]
    if not sources:
        raise FileNotFoundError(
            f"{src} 中没有执行过的笔记本；请先运行 jupyter-book build ."
        )
    written = []
    for path in sources:
        try:
            notebook = json.loads(path.read_text(encoding="utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as err:
            raise ValueError(
                f"{path} 不是合法的笔记本（{err}）；"
                "请删除 _build 后重新构建。"
            ) from err
        if not isinstance(notebook, dict) or "cells" not in notebook:
            raise ValueError(
                f"{path} 不是合法的笔记本（缺少 cells）；"
                "请删除 _build 后重新构建。"
            )
        leftover = notebooks.leftover_myst(notebook)
        if leftover:
            raise ValueError(
                f"{path} 中还有 MyST 语法（{'；'.join(leftover[:3])}）；"
                "请删除 _build 后用 jupyter-book build . 重新构建"
                "（构建时 dlbook_build 会把它们换成普通 Markdown）。"
            )
        target = out / path.relative_to(src)
        target.parent.mkdir(parents=True, exist_ok=True)
        exported = add_setup_cell(notebook, repo_url, ref)
        target.write_text(
            json.dumps(exported, ensure_ascii=False, indent=1) + "\n",
            encoding="utf-8",
        )
        written.append(target)
    return written


def main(argv=None) -> None:
    """命令行入口：把执行过的笔记本导出为 Colab 版（用法见模块说明）。"""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "src", help="执行过的笔记本所在目录，如 _build/jupyter_execute"
    )
    parser.add_argument("out", help="输出目录，如 _build/colab")
    parser.add_argument("--repo", required=True, help="GitHub 仓库网址")
    parser.add_argument(
        "--ref", default="main", help="安装 dlbook 所用的分支或提交"
    )
    args = parser.parse_args(argv)
    written = export_notebooks(args.src, args.out, args.repo, args.ref)
    print(f"写出 {len(written)} 个 Colab 笔记本到 {args.out}")


if __name__ == "__main__":
    main()


def add_colab_button(app, pagename, templatename, context, doctree):
    """在主题的“启动”菜单（Binder 所在处）加入 Colab 按钮。

    主题的 ``colab_url`` 用仓库分支与页面的源文件后缀，指不到 Colab 版
    笔记本，所以这里自己加。须在主题生成菜单（优先级 501）之后运行；
    主题只给笔记本页面（有 kernelspec 的页面）生成菜单。
    """
    repo_url = app.config.html_theme_options.get("repository_url")
    branch = app.config.dlbook_colab_branch
    if not repo_url or not branch:
        return
    for group in context.get("header_buttons", []):
        if group.get("label") != "launch-buttons":
            continue
        buttons = group["buttons"]
        if any(b.get("text") == "Colab" for b in buttons):
            return
        buttons.append(
            {
                "type": "link",
                "text": "Colab",
                "tooltip": "在 Google Colab 中运行本页",
                "icon": "_static/images/logo_colab.png",
                "url": colab_url(repo_url, pagename, branch),
            }
        )
