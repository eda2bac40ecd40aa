"""随网站发布 MathJax 3：页面不向第三方主机请求脚本或字体。

MathJax 来自 PyPI 包 ``django-static-mathjax``（可导入名 ``mathjax``），
整个包有 2,700 多个文件、43 MB。页面实际加载的只有 ``tex-chtml.js``、
CHTML 输出用的 woff 字体，以及按需加载的 TeX 扩展与菜单；只复制这些
（约 2.5 MB）。读屏“探索”模式所需的 ``a11y``/``sre``（约 4 MB）不在
默认配置中加载，因此不复制；MathJax 的 ``assistive-mml`` 已包含在
``tex-chtml.js`` 中，读屏软件照样能读公式。
"""

import shutil
from pathlib import Path

#: 复制到网站 ``mathjax/`` 下的文件与目录（相对于 MathJax 包的根）。
SUBSET = (
    "LICENSE",
    "es5/tex-chtml.js",
    "es5/output/chtml/fonts/woff-v2",
    "es5/input/tex/extensions",
    "es5/ui",
)
#: 页面引用的脚本，相对网站根目录。
ENTRY = "mathjax/es5/tex-chtml.js"


def mathjax_root() -> Path:
    """已安装的 MathJax 3 的根目录；找不到时给出安装提示。"""
    try:
        import mathjax
    except ImportError as err:
        raise RuntimeError(
            "找不到本地 MathJax（PyPI 包 django-static-mathjax）。"
            "请运行 pip install -r requirements.txt 后重新构建。"
        ) from err
    root = Path(mathjax.__file__).parent / "static" / "mathjax"
    missing = [p for p in SUBSET if not (root / p).exists()]
    if missing:
        raise RuntimeError(
            f"{root} 中缺少 {', '.join(missing)}；"
            "请重新安装 django-static-mathjax。"
        )
    return root


def copy_subset(outdir) -> int:
    """把 :data:`SUBSET` 复制到 ``outdir/mathjax``，返回文件数。"""
    root, dest = mathjax_root(), Path(outdir) / "mathjax"
    count = 0
    for rel in SUBSET:
        src, dst = root / rel, dest / rel
        if src.is_dir():
            shutil.copytree(src, dst, dirs_exist_ok=True)
            count += sum(1 for f in src.rglob("*") if f.is_file())
        else:
            dst.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dst)
            count += 1
    return count


def on_config_inited(app, config) -> None:
    """让 Sphinx 引用本地的 MathJax（相对路径会被加上 ``_static/``）。"""
    if config.dlbook_bundle_mathjax:
        mathjax_root()  # 尽早报告缺少的依赖
        config.mathjax_path = "../" + ENTRY


def on_build_finished(app, exception) -> None:
    if exception is None and app.builder.format == "html":
        if app.config.dlbook_bundle_mathjax:
            copy_subset(app.outdir)
