"""只构建几页：改一页时的快速检查（不必构建整本书）。

用法（在仓库根目录）::

    python -m dlbook_build.pages book/convnets/pooling.md [更多页面 ...]

它用一个临时目录表（所给页面，加上术语表与参考文献，供 ``{term}`` 与
``{cite}`` 引用）构建到 ``_build/pages/``，参数与整本书相同
（``-W -n --keep-going``），执行缓存与整本书共用。指向未包含页面的
交叉引用会报“undefined label”之类的警告，这一类可以忽略；其余警告
都要修好。
"""

import hashlib
import re
import subprocess
import sys
import tempfile
from pathlib import Path

#: 指向未包含页面的交叉引用产生的警告：只构建几页时可以忽略。
CROSS_REF = re.compile(
    r"undefined label|equation not found|unknown document|"
    r"term not in glossary|Failed to create a cross reference"
)
#: 总是一并构建的页面（被大多数页面引用）。
ALWAYS = ("book/glossary", "book/references")


def toc_for(pages) -> str:
    """只含 ``pages`` 的 jb-book 目录表（YAML 文本）。"""
    docs = [str(Path(p).with_suffix("")) for p in pages]
    rest = [d for d in docs[1:] + list(ALWAYS) if d != docs[0]]
    lines = ["format: jb-book", f"root: {docs[0]}", "chapters:"]
    lines += [f"  - file: {d}" for d in dict.fromkeys(rest)]
    return "\n".join(lines) + "\n"


def main(argv=None) -> int:
    """构建命令行给出的页面，返回 jupyter-book 的退出码。"""
    pages = list(sys.argv[1:] if argv is None else argv)
    if not pages:
        print(__doc__)
        return 2
    missing = [p for p in pages if not Path(p).is_file()]
    if missing:
        print(f"找不到页面 {missing}；请在仓库根目录运行，给出 .md 路径。")
        return 2
    with tempfile.TemporaryDirectory() as tmp:
        toc = Path(tmp, "_toc.yml")
        toc.write_text(toc_for(pages), encoding="utf-8")
        jb = Path(sys.executable).with_name("jupyter-book")
        cmd = [str(jb), "build", ".", "--toc", str(toc), "-W", "-n"]
        # 每组页面一个输出目录：同时构建不同页面的人互不干扰。
        tag = hashlib.sha256("\n".join(sorted(pages)).encode()).hexdigest()
        out = f"_build/pages/{Path(pages[0]).stem}-{tag[:8]}"
        cmd += ["--keep-going", "--path-output", out]
        result = subprocess.run(cmd, capture_output=True, text=True)
    log = result.stdout + result.stderr
    warnings = [
        line
        for line in log.splitlines()
        if re.search(r"WARNING|ERROR|Error|Traceback", line)
        # 内核进程自己的日志（如 “[IPKernelApp] WARNING | ...”）不是
        # 构建警告；整本书的构建测试同样不计它们。
        and not line.lstrip().startswith("[IPKernelApp]")
    ]
    real = [w for w in warnings if not CROSS_REF.search(w)]
    for w in warnings:
        print(("  (跨页引用，可忽略) " if w not in real else "") + w)
    print(f"网页在 {out}/_build/html；需要修的警告 {len(real)} 条。")
    if result.returncode and not warnings:
        print(log[-3000:])
        return result.returncode
    return 1 if real else 0


if __name__ == "__main__":
    raise SystemExit(main())
