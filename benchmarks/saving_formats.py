"""保存格式基准：各种保存方式的耗时与文件大小，相对 ``save_weights``。

用法（在仓库根目录）::

    python benchmarks/saving_formats.py [--repeats 5]

对讲义的模型（训练一轮，使优化器状态存在）分别测量：
``save_weights``（基准）、``atomic_save`` 到 ``.weights.h5``、
``model.save`` 到 ``.keras``、``atomic_save`` 到 ``.keras``、旧式 ``.h5``
与 ``model.export``，以及对应的加载。打印中位数秒数、相对基准的比值和
文件大小。原子保存多出的开销主要是 ``fsync``。
"""

import argparse
import os
import shutil
import statistics
import tempfile
import time
import warnings

import dlbook


def median_seconds(fn, repeats: int) -> float:
    """运行 fn 若干次，返回耗时的中位数（秒）。"""
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def size_of(path: str) -> int:
    """文件或目录（递归）的字节数。"""
    if os.path.isfile(path):
        return os.path.getsize(path)
    return sum(
        os.path.getsize(os.path.join(root, f))
        for root, _, files in os.walk(path)
        for f in files
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()

    dlbook.setup()
    import keras

    from dlbook.data import load_flat_mnist
    from dlbook.models import create_model
    from dlbook.saving import (
        atomic_save,
        load_model_safely,
        load_weights_safely,
    )

    (X, y), _ = load_flat_mnist()
    model = create_model()
    model.fit(X, y, epochs=1, verbose=0)
    d = tempfile.mkdtemp(prefix="dlbook-bench-saving-")
    p = {
        k: os.path.join(d, k)
        for k in ["w.weights.h5", "m.keras", "m.h5", "exported"]
    }
    warnings.simplefilter("ignore")

    saves = [
        (
            "save_weights (.weights.h5)",
            lambda: model.save_weights(p["w.weights.h5"]),
            p["w.weights.h5"],
        ),
        (
            "atomic_save (.weights.h5)",
            lambda: atomic_save(model, p["w.weights.h5"]),
            p["w.weights.h5"],
        ),
        (
            "model.save (.keras)",
            lambda: model.save(p["m.keras"]),
            p["m.keras"],
        ),
        (
            "atomic_save (.keras)",
            lambda: atomic_save(model, p["m.keras"]),
            p["m.keras"],
        ),
        ("model.save (.h5, 旧式)", lambda: model.save(p["m.h5"]), p["m.h5"]),
        (
            "model.export (SavedModel)",
            lambda: model.export(p["exported"], verbose=False),
            p["exported"],
        ),
    ]
    fresh = create_model()
    loads = [
        (
            "load_weights (.weights.h5)",
            lambda: fresh.load_weights(p["w.weights.h5"]),
        ),
        (
            "load_weights_safely",
            lambda: load_weights_safely(fresh, p["w.weights.h5"]),
        ),
        (
            "load_model (.keras)",
            lambda: keras.models.load_model(p["m.keras"]),
        ),
        (
            "load_model_safely (.keras)",
            lambda: load_model_safely(p["m.keras"]),
        ),
        ("load_model (.h5)", lambda: keras.models.load_model(p["m.h5"])),
        (
            "TFSMLayer (SavedModel)",
            lambda: keras.layers.TFSMLayer(
                p["exported"], call_endpoint="serve"
            ),
        ),
    ]

    print(f"重复 {args.repeats} 次取中位数（临时目录用后删除）")
    print("\n保存：")
    base = None
    for name, fn, path in saves:
        t = median_seconds(fn, args.repeats)
        base = base or t
        print(
            f"  {name:30s} {t * 1e3:8.1f} ms  比值 {t / base:5.2f}  "
            f"{size_of(path) / 2**20:6.2f} MiB"
        )
    print("\n加载：")
    base = None
    for name, fn in loads:
        t = median_seconds(fn, args.repeats)
        base = base or t
        print(f"  {name:30s} {t * 1e3:8.1f} ms  比值 {t / base:5.2f}")
    shutil.rmtree(d, ignore_errors=True)


if __name__ == "__main__":
    main()
