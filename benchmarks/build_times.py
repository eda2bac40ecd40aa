"""构建时间基准：冷构建、无改动重建、PDF 构建，以及每页的执行时间。

用法（在仓库根目录）::

    python benchmarks/build_times.py [--no-pdf] [--keep DIR]

冷构建在一个全新的输出目录中进行（没有执行缓存），因此每一页都要执行；
随后在同一目录中原样再构建一次（应当几乎不执行任何单元），再构建 PDF
（复用执行缓存）。打印各自的秒数和相对冷构建的比值，以及每页的执行秒数
（取自 jupyter-cache 的执行记录）。
"""

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
JB = str(Path(sys.executable).with_name("jupyter-book"))
#: 冷构建时间与网站大小的目标（issue 12）。
COLD_TARGET = 300
SITE_TARGET_MB = 15


def timed_build(out: Path, *args: str) -> float:
    """在输出目录 out 中构建一次，返回耗时（秒）；失败时打印日志并退出。"""
    start = time.perf_counter()
    result = subprocess.run(
        [
            JB,
            "build",
            ".",
            "--path-output",
            str(out),
            "-W",
            "-n",
            "--keep-going",
            *args,
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    elapsed = time.perf_counter() - start
    if result.returncode != 0:
        print((result.stdout + result.stderr)[-5000:], file=sys.stderr)
        sys.exit(f"构建失败（参数 {args}），见上面的日志。")
    return elapsed


def page_times(out: Path) -> list[tuple[str, float]]:
    """从 jupyter-cache 的记录中读出每页的执行秒数。"""
    from jupyter_cache import get_cache

    caches = sorted((out / "_build" / ".jupyter_cache").glob("dlbook-*"))
    if not caches:
        return []
    records = get_cache(str(caches[-1])).list_cache_records()
    rows = []
    for record in records:
        uri = Path(record.uri)
        name = uri.relative_to(ROOT) if uri.is_relative_to(ROOT) else uri
        rows.append((str(name), float(record.data["execution_seconds"])))
    return sorted(rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--no-pdf", action="store_true", help="不构建 PDF")
    parser.add_argument("--keep", help="把输出留在这个目录（默认临时目录）")
    args = parser.parse_args()

    out = Path(args.keep or tempfile.mkdtemp(prefix="dlbook-bench-"))
    shutil.rmtree(out / "_build", ignore_errors=True)
    os.environ.setdefault("PYTHONHASHSEED", "0")
    print(f"输出目录：{out}    CPU 核数：{os.cpu_count()}")

    cold = timed_build(out)
    print(
        f"冷构建（全部执行）      {cold:8.1f} s   比值 1.00"
        f"（目标 {COLD_TARGET} s：{cold / COLD_TARGET:.2f} 倍）"
    )
    warm = timed_build(out)
    print(f"无改动重建              {warm:8.1f} s   比值 {warm / cold:.2f}")
    html = out / "_build" / "html"
    files = [f for f in html.rglob("*") if f.is_file()]
    site = sum(f.stat().st_size for f in files) / 2**20
    mathjax = sum(f.stat().st_size for f in files if "mathjax" in f.parts)
    print(
        f"网站大小                {site:8.1f} MB  "
        f"（目标 {SITE_TARGET_MB} MB：{site / SITE_TARGET_MB:.2f} 倍；"
        f"其中 MathJax {mathjax / 2**20:.1f} MB，{len(files)} 个文件）"
    )
    if not args.no_pdf:
        shutil.rmtree(out / "_build" / "latex", ignore_errors=True)
        pdf = timed_build(out, "--builder", "pdflatex")
        print(f"PDF 构建（复用缓存）    {pdf:8.1f} s   比值 {pdf / cold:.2f}")

    rows = page_times(out)
    total = sum(t for _, t in rows)
    print("\n每页执行时间（秒）：")
    for name, seconds in rows:
        print(f"  {seconds:7.1f}  {name}")
    print(f"  {total:7.1f}  合计（占冷构建的 {total / cold:.0%}）")
    if not args.keep:
        shutil.rmtree(out, ignore_errors=True)


if __name__ == "__main__":
    main()
