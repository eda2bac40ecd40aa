"""像集群那样被抢占：收到 SIGTERM 后做完当前一步、原子地保存、以 0 退出。

Kubernetes 删除一个 Pod、Slurm 到时间或抢占一个作业、云厂商回收一台
抢占式（spot）虚拟机时，都是先给进程发 SIGTERM，等一段*宽限期*
（grace period，Kubernetes 默认 30 秒），进程还没退出才发 SIGKILL。
SIGTERM 可以被捕获：训练程序只需在信号处理函数里记下“该停了”，在
下一个安全的地方——当前这一步训练做完之后——保存并退出。

作为模块运行时，它是本书抢占演示和测试所用的训练入口::

    python -m dlbook.preemption train --ckpt-dir DIR --epochs 3 --out w.npz

检查点是 ``step-NNNNNN.keras``：文件名里是已完成的全局步数，由它可以
算出轮次和该轮内的批量。每一步的数据和 Dropout 掩码只由
(种子, 全局步数) 决定，因此在任何一步之后停下、再恢复，最终权重都与
不中断的训练逐位相同。
"""

import argparse
import os
import re
import signal
import subprocess
import sys
import tempfile
import threading
import time

import numpy as np

from dlbook._subprocess import (
    Child,
    import_tensorflow_quickly,
    skip_optional_imports,
    wait_for_line,
)
from dlbook.data import load_flat_mnist
from dlbook.models import create_model
from dlbook.resumable import reseed_dropout
from dlbook.saving import atomic_save, load_model_safely

#: 检查点文件名：已完成的全局步数。
STEP_PATTERN = "step-{step:06d}.keras"
#: 停在演示点时打印的标记。
PAUSE_MARK = "PAUSED"
#: 收到 SIGTERM、保存完毕后打印的标记。
PREEMPTED_MARK = "PREEMPTED"


class GracefulStop:
    """上下文管理器：在其中收到 SIGTERM 时只记下请求，不立即退出。

    训练循环在每一步之后查看 :attr:`requested`，为真就保存并返回。
    离开上下文时恢复原来的信号处理函数。只能在主线程中使用（Python
    只在主线程里运行信号处理函数）。
    """

    def __init__(self, signals=(signal.SIGTERM,)):
        self.signals = tuple(signals)
        self.received = None
        self._event = threading.Event()
        self._old = {}

    def _handler(self, signum, frame):
        # 处理函数里只做最少的事：记下信号。保存留给训练循环。
        self.received = signal.Signals(signum).name
        self._event.set()

    @property
    def requested(self) -> bool:
        """是否已收到停止请求。"""
        return self._event.is_set()

    def wait(self, timeout: float) -> bool:
        """最多等 timeout 秒，直到收到停止请求；返回是否收到。"""
        return self._event.wait(timeout)

    def __enter__(self):
        for s in self.signals:
            self._old[s] = signal.signal(s, self._handler)
        return self

    def __exit__(self, *exc):
        for s, old in self._old.items():
            signal.signal(s, old)
        return False


def step_checkpoint(ckpt_dir, step: int) -> str:
    """第 step 步之后的检查点路径。"""
    return os.path.join(str(ckpt_dir), STEP_PATTERN.format(step=step))


def latest_step(ckpt_dir) -> tuple[int, str | None]:
    """目录中最新检查点的 ``(全局步数, 路径)``；没有时为 ``(0, None)``。

    以“.”开头的临时文件（保存到一半的）不算。
    """
    best = (0, None)
    if not os.path.isdir(str(ckpt_dir)):
        return best
    for name in os.listdir(str(ckpt_dir)):
        m = re.fullmatch(r"step-(\d{6})\.keras", name)
        if m and int(m.group(1)) >= best[0]:
            best = (int(m.group(1)), os.path.join(str(ckpt_dir), name))
    return best


def _save_step(model, ckpt_dir, step):
    path = atomic_save(model, step_checkpoint(ckpt_dir, step))
    # 新的写好了才删旧的：任何时刻目录里都至少有一个完整的检查点
    for name in os.listdir(ckpt_dir):
        if name.startswith("step-") and name != os.path.basename(path):
            os.remove(os.path.join(ckpt_dir, name))
    return path


def _train_steps(model, X, y, start, total, per_epoch, cfg, stop, hook):
    bs, seed = cfg["batch_size"], cfg["seed"]
    for step in range(start, total):
        e, b = divmod(step, per_epoch)  # 第 e 轮的第 b 个批量（从 0 数）
        order = np.random.default_rng([seed, e]).permutation(len(X))
        idx = order[b * bs : (b + 1) * bs]
        reseed_dropout(model, seed, step)  # 掩码只由 (种子, 步数) 决定
        model.train_on_batch(X[idx], y[idx])
        hook(step + 1, stop)
        if stop.requested:  # 这一步已经做完：保存，然后正常返回
            return _save_step(model, cfg["ckpt_dir"], step + 1)
        if (step + 1) % per_epoch == 0:  # 每轮结束也照常保存
            _save_step(model, cfg["ckpt_dir"], step + 1)
    return None


def preemptible_train(
    ckpt_dir,
    epochs: int = 3,
    *,
    n_train: int = 256,
    batch_size: int = 32,
    seed: int = 0,
    pause_at=None,
    handle_sigterm: bool = True,
    log=print,
):
    """可被 SIGTERM 体面地打断的训练：每步之后查看停止请求。

    收到 SIGTERM 时，当前这一步照常做完，然后把整个模型（含优化器
    状态）原子地存成 ``step-NNNNNN.keras`` 并返回；每轮结束时也保存。
    再次调用时从最新的检查点接着训练。

    Args:
        ckpt_dir: 检查点目录。
        epochs: 总轮数。
        n_train: 训练样本数；须能被 batch_size 整除。
        batch_size: 批量大小。
        seed: 随机种子。
        pause_at: 全局步数；做完这一步后打印 ``PAUSED`` 并最多等
            600 秒，直到收到 SIGTERM（演示用，使停下的位置固定）。
        handle_sigterm: 为 False 时不装信号处理函数（对照组）：SIGTERM
            按默认动作立即终止进程，上次保存之后的进度全部丢失。
        log: 打印进度的函数。

    Returns:
        ``(model, 抢占时保存的路径或 None)``。
    """
    if n_train % batch_size:
        raise ValueError(
            f"样本数 n_train={n_train} 不能被 batch_size={batch_size} "
            "整除；请让每个批量都是满的，步数才能与轮次一一对应。"
        )
    import keras

    (X, y), _ = load_flat_mnist(n_train=n_train, n_test=1)
    os.makedirs(str(ckpt_dir), exist_ok=True)
    per_epoch = n_train // batch_size
    cfg = dict(batch_size=batch_size, seed=seed, ckpt_dir=str(ckpt_dir))

    def hook(step, stop):
        if step == pause_at:
            print(f"{PAUSE_MARK} step={step}", flush=True)
            # 对照组没有处理函数：SIGTERM 的默认动作在这里直接终止进程
            if not stop.wait(600):
                raise SystemExit(f"在第 {step} 步等待 SIGTERM 超时")

    signals = (signal.SIGTERM,) if handle_sigterm else ()
    with GracefulStop(signals) as stop:
        start, latest = latest_step(ckpt_dir)
        keras.utils.set_random_seed(seed)
        if latest is None:
            model = create_model()
            log(f"没有检查点，从头训练 {epochs} 轮（每轮 {per_epoch} 步）")
        else:
            model = load_model_safely(latest)
            e, b = divmod(start, per_epoch)
            name = os.path.basename(latest)
            log(f"从 {name} 恢复：接着做第 {e + 1} 轮的第 {b + 1} 步")
        saved = _train_steps(
            model, X, y, start, epochs * per_epoch, per_epoch, cfg, stop, hook
        )
        if saved is not None:
            log(
                f"{PREEMPTED_MARK} 收到 {stop.received}：做完第 "
                f"{latest_step(ckpt_dir)[0]} 步，已保存 "
                f"{os.path.basename(saved)}，正常退出"
            )
        else:
            log(f"训练完成，共 {epochs * per_epoch} 步")
    return model, saved


# ----------------------------------------------------------------------
# 分片保存：一个检查点由几个文件组成时，怎样仍然原子


def _atomic_save_sharded(model, final_dir, max_shard_size):
    parent, name = os.path.split(os.path.abspath(final_dir))
    tmp = tempfile.mkdtemp(prefix=f".{name}.tmp-", dir=parent)
    # 先把索引和全部分片写进临时目录……
    model.save_weights(
        os.path.join(tmp, "model.weights.json"), max_shard_size=max_shard_size
    )
    # ……再把整个目录一次改名：别人看到的要么没有它，要么是完整的它
    os.rename(tmp, final_dir)
    fd = os.open(parent, os.O_RDONLY)
    try:
        os.fsync(fd)  # 让改名本身也落盘
    finally:
        os.close(fd)
    return os.path.join(final_dir, "model.weights.json")


def atomic_save_sharded(model, final_dir, max_shard_size: float) -> str:
    """把权重（含优化器状态）分片存进一个新目录，目录整体原子地出现。

    ``model.save_weights(..., max_shard_size=...)`` 写出一个索引文件
    ``model.weights.json`` 和若干 ``model_NNNNN.weights.h5`` 分片，每片
    最多 max_shard_size GB（1 GB = 1024**3 字节）；单个变量不会被拆开，
    所以每片至少要放得下最大的那个变量。多个文件无法一起 ``os.replace``，
    这里先写进同一父目录下以“.”开头的临时目录，再把目录整个改名。

    Args:
        model: Keras 模型。
        final_dir: 目标目录；必须尚不存在（每个检查点一个新目录）。
        max_shard_size: 每片的最大大小，单位 GB。

    Returns:
        索引文件 ``final_dir/model.weights.json`` 的路径；加载时把它交给
        ``model.load_weights``。

    Raises:
        FileExistsError: final_dir 已经存在。
    """
    final_dir = os.fspath(final_dir)
    if os.path.exists(final_dir):
        raise FileExistsError(
            f"{final_dir} 已经存在。分片检查点每次写进一个新目录（例如按"
            "步数命名），旧目录等新目录写好之后再删。"
        )
    if not max_shard_size > 0:
        raise ValueError(
            f"max_shard_size 应为正数（单位 GB），收到 {max_shard_size!r}。"
        )
    return _atomic_save_sharded(model, final_dir, max_shard_size)


# ----------------------------------------------------------------------
# 父进程一侧：像集群管理器那样发 SIGTERM、等宽限期、再发 SIGKILL


def module_command(*args) -> list[str]:
    """以当前解释器运行 ``python -m dlbook.preemption ARGS`` 的命令行。"""
    return [sys.executable, "-m", "dlbook.preemption", *map(str, args)]


def _terminate_with_grace(proc, grace):
    t0 = time.monotonic()
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=grace)
    except subprocess.TimeoutExpired:
        proc.kill()  # 宽限期已过：与集群一样，直接 SIGKILL
        proc.wait()
    return proc.returncode, time.monotonic() - t0


def terminate_with_grace(proc, grace: float) -> tuple[int, float]:
    """像集群管理器那样结束进程：发 SIGTERM，最多等 grace 秒，再 SIGKILL。

    Args:
        proc: ``subprocess.Popen`` 对象。
        grace: 宽限期（秒），应为正数。

    Returns:
        ``(退出码, 从发出 SIGTERM 到进程结束的秒数)``。
    """
    if not grace > 0:
        raise ValueError(f"宽限期 grace 应为正数（秒），收到 {grace!r}。")
    return _terminate_with_grace(proc, grace)


def run_and_preempt(
    *args, grace: float = 30.0, when=PAUSE_MARK, timeout: float = 300.0
):
    """启动训练子进程，见到以 when 开头的一行就发 SIGTERM，等它退出。

    后台线程读尽子进程的 stdout/stderr；硬超时 timeout 秒，到时即使
    子进程什么也不打印也会被 SIGKILL。

    Returns:
        ``(标准输出, 标准错误, 退出码, 从 SIGTERM 到退出的秒数)``；
        子进程在宽限期内体面退出时退出码为 0，被 SIGKILL 时为 ``-9``。

    Raises:
        RuntimeError: 超时，或子进程没有打印 when 就结束了。
    """
    child = Child(module_command(*args), dict(os.environ))
    rc, took = None, None
    try:
        if wait_for_line(child, when, time.monotonic() + timeout):
            rc, took = terminate_with_grace(child.proc, grace)
    except TimeoutError as err:
        raise RuntimeError(f"子进程 {timeout} 秒内没有到达 {when}") from err
    finally:
        out, err, code = child.finish()
    if rc is None:
        raise RuntimeError(
            f"子进程没有打印 {when!r} 就结束了（退出码 {code}）。标准错误的"
            f"末尾：\n{err[-2000:]}"
        )
    return out, err, code, took


def main(argv=None) -> int:
    """命令行入口。"""
    parser = argparse.ArgumentParser(
        prog="python -m dlbook.preemption",
        description=__doc__.splitlines()[0],
    )
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("train", help="可被 SIGTERM 体面打断的训练")
    p.add_argument("--ckpt-dir", required=True)
    p.add_argument("--epochs", type=int, default=3)
    p.add_argument("--n-train", type=int, default=256)
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--pause-at", type=int, default=None)
    p.add_argument(
        "--no-handler",
        action="store_true",
        help="不处理 SIGTERM（对照组）",
    )
    p.add_argument("--out", default=None, help="训练结束后把权重存成 .npz")
    args = parser.parse_args(argv)

    import absl.logging

    tf = import_tensorflow_quickly()  # 导入期间暂停垃圾回收，省约 1 秒
    absl.logging.set_verbosity(absl.logging.ERROR)
    # 确定性算子：中断再恢复的训练才能与不中断的逐位相同
    tf.config.experimental.enable_op_determinism()
    model, saved = preemptible_train(
        args.ckpt_dir,
        args.epochs,
        n_train=args.n_train,
        batch_size=args.batch_size,
        seed=args.seed,
        pause_at=args.pause_at,
        handle_sigterm=not args.no_handler,
        log=lambda s: print(s, flush=True),
    )
    if args.out and saved is None:
        weights = model.get_weights()
        np.savez(args.out, **{f"w{i}": w for i, w in enumerate(weights)})
    return 0


if __name__ == "__main__":
    skip_optional_imports()  # 子进程只训练：跳过 Keras 顺带导入的可选依赖
    sys.exit(main())
