"""可恢复的训练：进程被 SIGKILL 杀死后，从最近的检查点继续训练。

作为模块运行时，它是本书“杀死再恢复”演示和故障注入测试所用的训练
入口::

    python -m dlbook.resumable train --ckpt-dir DIR --epochs 6 --out w.npz

``train`` 每训练完一轮，就用 :func:`dlbook.saving.atomic_save` 把整个
模型（权重、优化器状态）原子地存成 ``epoch-NNNN.keras``，轮次编号就在
文件名里。再次启动时，它找到最新的检查点并从下一轮接着训练。每一轮的
数据顺序和 Dropout 的随机数都只由 (种子, 轮次) 决定，与之前是否中断
无关，因此恢复后的最终权重与不中断的训练逐位相同。

``--pause-at`` 让进程在指定位置打印一行 ``PAUSED ...`` 后停住，
等待父进程用 SIGKILL 杀死它：``batch:E:B`` 表示第 E 轮的第 B 个批量
之后，``save:E`` 表示第 E 轮的检查点写完临时文件、尚未改名之时。
"""

import argparse
import os
import sys
import time

import numpy as np

from dlbook._subprocess import (
    Child,
    import_tensorflow_quickly,
    skip_optional_imports,
    wait_for_line,
)
from dlbook.saving import (
    atomic_save,
    checkpoint_epoch,
    latest_checkpoint,
    load_model_safely,
    prune_checkpoints,
    remove_stale_temporaries,
)
from dlbook.models import create_model
from dlbook.data import load_flat_mnist

#: 检查点文件名的格式；轮次从 1 数起。
CKPT_PATTERN = "epoch-{epoch:04d}.keras"
#: 停在故障注入点时打印的标记。
PAUSE_MARK = "PAUSED"


def _reseed_dropout(model, seed, epoch):
    # 每个随机层的生成器状态只取决于 (种子, 层序号, 轮次)
    for i, layer in enumerate(model._flatten_layers()):
        generator = getattr(layer, "seed_generator", None)
        if generator is not None:
            state = [seed * 100_003 + i, epoch * 1_000_003]
            generator.state.assign(np.array(state, dtype="int64"))


def reseed_dropout(model, seed: int, epoch: int) -> None:
    """把模型中每个随机层（如 Dropout）的随机数状态设为 (种子, 轮次) 的函数。

    Keras 不把 Dropout 的随机数状态存进检查点；不这样做，恢复后的
    Dropout 掩码就与不中断时不同，最终权重也随之不同。

    注意：它用了 Keras 的私有方法 ``model._flatten_layers()``，并按
    TensorFlow 后端的约定写入 int64 的状态；JAX 后端的种子状态是
    uint32，需要相应改写。
    """
    _reseed_dropout(model, seed, epoch)


def _pause(spec: str) -> None:
    """打印故障注入标记，然后停住，等待父进程发来 SIGKILL。"""
    print(f"{PAUSE_MARK} {spec}", flush=True)
    time.sleep(600)
    raise SystemExit(f"在 {spec} 处等待 SIGKILL 超时")


def _parse_pause(pause_at):
    """把 ``batch:E:B`` / ``save:E`` 解析成元组；None 表示不停。"""
    if pause_at is None:
        return None
    parts = pause_at.split(":")
    try:
        if parts[0] == "batch" and len(parts) == 3:
            return ("batch", int(parts[1]), int(parts[2]))
        if parts[0] == "save" and len(parts) == 2:
            return ("save", int(parts[1]))
    except ValueError:
        pass
    raise ValueError(
        f"无法理解 pause_at={pause_at!r}；应为 'batch:轮次:批量' 或 "
        "'save:轮次'，轮次从 1 数起，批量从 1 数起。"
    )


def _resume_or_start(ckpt_dir, restore="full"):
    latest = latest_checkpoint(ckpt_dir, CKPT_PATTERN, missing_ok=True)
    if latest is None:
        return create_model(), 0, None  # 没有检查点：从头训练
    model = load_model_safely(latest)  # 结构、权重、优化器状态
    if restore == "weights":
        # 只拿回层的权重：优化器（Adam 的 m、v、步数）从零开始
        fresh = create_model()
        fresh.set_weights(model.get_weights())
        model = fresh
    return model, checkpoint_epoch(latest, CKPT_PATTERN), latest


def _run_epoch(model, X, y, epoch, seed, batch_size, callbacks=()):
    # 这一轮的随机性只由 (种子, 轮次) 决定，与之前是否中断过无关
    reseed_dropout(model, seed, epoch)
    order = np.random.default_rng([seed, epoch]).permutation(len(X))
    history = model.fit(
        X[order],
        y[order],
        batch_size=batch_size,
        epochs=1,
        shuffle=False,  # 顺序已由 (种子, 轮次) 决定
        verbose=0,
        callbacks=list(callbacks),
    )
    return float(history.history["loss"][0])


def _save_epoch(model, ckpt_dir, epoch, keep, before_replace=None):
    # 轮次编号在文件名里，与模型一起原子地写入
    path = os.path.join(ckpt_dir, CKPT_PATTERN.format(epoch=epoch + 1))
    atomic_save(model, path, before_replace=before_replace)
    prune_checkpoints(ckpt_dir, keep=keep, template=CKPT_PATTERN)
    return path


def train(
    ckpt_dir,
    epochs: int = 6,
    *,
    n_train: int = 1000,
    batch_size: int = 32,
    seed: int = 0,
    restore: str = "full",
    pause_at=None,
    keep: int = 2,
    log=print,
):
    """可恢复地训练讲义的模型，每轮结束原子地保存一个检查点。

    Args:
        ckpt_dir: 检查点目录；其中已有检查点时从最新的一个继续。
        epochs: 总轮数（包括恢复前已完成的）。
        n_train: 训练样本数。
        batch_size: 批量大小。
        seed: 随机种子；初始权重、每轮的数据顺序和 Dropout 掩码都由它
            （与轮次）决定。
        restore: ``"full"`` 恢复整个模型（权重和优化器状态）；
            ``"weights"`` 只恢复层的权重、优化器从头开始，用来演示
            “只存权重”会出什么问题。
        pause_at: 故障注入点，见模块说明；None 表示不停。
        keep: 保留的检查点个数。
        log: 打印进度的函数。

    Returns:
        ``(model, losses)``：训练好的模型，以及本次运行中各轮的
        ``(轮次, 训练损失)`` 列表。
    """
    import keras

    if restore not in ("full", "weights"):
        raise ValueError(
            f"restore 应为 'full' 或 'weights'，收到 {restore!r}。"
        )
    pause = _parse_pause(pause_at)
    (X, y), _ = load_flat_mnist(n_train=n_train, n_test=1)
    os.makedirs(ckpt_dir, exist_ok=True)
    # 上次若死在保存途中，会留下未完成的临时文件：它从未被改名成
    # 检查点，不含任何需要的东西，删掉即可。
    for path in remove_stale_temporaries(ckpt_dir):
        # 临时文件名的后半段是随机的，只打印固定的前缀。
        name = os.path.basename(path).split(".tmp-")[0]
        log(f"删除未完成的临时文件 {name}.tmp-*")

    keras.utils.set_random_seed(seed)
    model, start, latest = _resume_or_start(ckpt_dir, restore)
    if latest is None:
        log(f"没有检查点，从头训练 {epochs} 轮")
    else:
        log(
            f"从 {os.path.basename(latest)} 恢复（{restore}），"
            f"继续第 {start + 1} 到 {epochs} 轮"
        )

    class Pause(keras.callbacks.Callback):
        """在指定轮次的指定批量之后停住。"""

        def __init__(self, epoch):
            super().__init__()
            self.epoch = epoch

        def on_train_batch_end(self, batch, logs=None):
            if pause[:2] == ("batch", self.epoch) and batch + 1 == pause[2]:
                _pause(pause_at)

    def save_hook(epoch):
        if pause == ("save", epoch + 1):
            return lambda tmp: _pause(pause_at)
        return None

    losses = []
    for epoch in range(start, epochs):
        hooks = [Pause(epoch + 1)] if pause else []
        loss = _run_epoch(model, X, y, epoch, seed, batch_size, hooks)
        path = _save_epoch(model, ckpt_dir, epoch, keep, save_hook(epoch))
        losses.append((epoch + 1, loss))
        log(
            f"第 {epoch + 1}/{epochs} 轮  loss={loss:.6f}  已保存 "
            f"{os.path.basename(path)}"
        )
    return model, losses


def train_custom_loop(
    ckpt_dir,
    epochs: int = 3,
    *,
    n_train: int = 1000,
    batch_size: int = 50,
    seed: int = 0,
    stop_after=None,
    log=print,
):
    """用自定义训练循环训练，以 ``tf.train.Checkpoint`` 保存和恢复。

    检查点里有模型、优化器和一个记录已完成轮次的变量 ``epoch``；
    ``tf.train.CheckpointManager`` 负责编号、只保留最近两个，并维护
    目录中的 ``checkpoint`` 索引文件。

    Args:
        ckpt_dir: 检查点目录；已有检查点时从最新的一个继续。
        epochs: 总轮数。
        n_train: 训练样本数。
        batch_size: 批量大小。默认 50 整除 1,000，每个批量形状相同，
            ``tf.function`` 只需追踪（trace）一次。
        seed: 随机种子。
        stop_after: 完成这么多轮后就返回，模拟训练被中断；None 表示
            一直训练到 epochs 轮。
        log: 打印进度的函数。

    Returns:
        ``(model, epoch)``：模型与已完成的轮数。
    """
    import keras

    (X, y), _ = load_flat_mnist(n_train=n_train, n_test=1)
    keras.utils.set_random_seed(seed)
    model = create_model()
    optimizer = keras.optimizers.Adam()
    manager, epoch = _restore_or_init(model, optimizer, ckpt_dir)
    if manager.latest_checkpoint:
        log(
            f"从 {os.path.basename(manager.latest_checkpoint)} 恢复，"
            f"已完成 {int(epoch)} 轮"
        )
    train_step = _make_train_step(model, optimizer)
    last = epochs if stop_after is None else min(epochs, stop_after)
    while int(epoch) < last:
        losses = _custom_epoch(
            train_step, model, X, y, int(epoch), seed, batch_size
        )
        epoch.assign_add(1)
        path = manager.save(checkpoint_number=int(epoch))
        log(
            f"第 {int(epoch)}/{epochs} 轮  loss={np.mean(losses):.6f}  "
            f"已保存 {os.path.basename(path)}"
        )
    if int(epoch) < epochs:
        log(f"在第 {int(epoch)} 轮之后停止（模拟中断）")
    return model, int(epoch)


def _restore_or_init(model, optimizer, ckpt_dir):
    import tensorflow as tf

    optimizer.build(model.trainable_variables)  # 先建立，才有变量可填
    epoch = tf.Variable(0, dtype=tf.int64, name="epoch")  # 已完成的轮次
    checkpoint = tf.train.Checkpoint(
        model=model, optimizer=optimizer, epoch=epoch
    )
    manager = tf.train.CheckpointManager(checkpoint, ckpt_dir, max_to_keep=2)
    if manager.latest_checkpoint:
        status = checkpoint.restore(manager.latest_checkpoint)
        # 文件中有、程序中也有的对象都必须恢复成功，否则立即报错
        status.assert_existing_objects_matched()
    return manager, epoch


def _make_train_step(model, optimizer):
    import keras
    import tensorflow as tf

    loss_fn = keras.losses.SparseCategoricalCrossentropy(from_logits=True)

    @tf.function
    def train_step(X_batch, y_batch):
        with tf.GradientTape() as tape:
            loss = loss_fn(y_batch, model(X_batch, training=True))
        grads = tape.gradient(loss, model.trainable_variables)
        optimizer.apply_gradients(
            zip(grads, model.trainable_variables, strict=True)
        )
        return loss

    return train_step


def _custom_epoch(train_step, model, X, y, epoch, seed, batch_size):
    # 与 _run_epoch 相同：数据顺序和 Dropout 只由 (种子, 轮次) 决定
    reseed_dropout(model, seed, epoch)
    order = np.random.default_rng([seed, epoch]).permutation(len(X))
    starts = range(0, len(X), batch_size)
    batches = [order[i : i + batch_size] for i in starts]
    # 损失留在张量里，整轮结束才取回，免得每步都等待同步
    return [train_step(X[idx], y[idx]) for idx in batches]


def update_norms(model, X, y, epoch, *, seed=0, batch_size=32, steps=20):
    """从 model 当前状态起训练 steps 个批量，返回每一步参数更新量的范数。

    用来比较“完整恢复”与“只恢复权重”后最初几步走了多远：第 k 项是
    第 k 步前后全部可训练参数之差的 L2 范数 ``||Δθ||``。数据顺序和
    Dropout 与 :func:`train` 的第 epoch 轮（从 0 数起）相同。

    Returns:
        形状为 ``(steps,)`` 的数组。
    """
    if steps < 1 or steps * batch_size > len(X):
        raise ValueError(
            f"steps={steps}、batch_size={batch_size} 需要 "
            f"{steps * batch_size} 个样本，而 X 只有 {len(X)} 个；"
            "请减小 steps。"
        )
    reseed_dropout(model, seed, epoch)
    order = np.random.default_rng([seed, epoch]).permutation(len(X))
    return np.array(
        [
            _one_step_norm(model, X, y, order[k * batch_size :][:batch_size])
            for k in range(steps)
        ]
    )


def _one_step_norm(model, X, y, idx):
    before = [np.array(w) for w in model.get_weights()]
    model.train_on_batch(X[idx], y[idx])
    after = model.get_weights()
    return float(
        np.sqrt(
            sum(
                np.sum((a - b) ** 2)
                for a, b in zip(after, before, strict=True)
            )
        )
    )


def module_command(*args) -> list[str]:
    """以当前解释器运行 ``python -m dlbook.resumable ARGS`` 的命令行。"""
    return [sys.executable, "-m", "dlbook.resumable", *map(str, args)]


def _kill_at_pause(child, deadline):
    # 一见到 PAUSED 就发 SIGKILL：不给它收尾的机会
    seen = wait_for_line(child, PAUSE_MARK, deadline)
    child.kill()
    return seen


def run_until_pause(command, timeout: float = 300) -> tuple[str, int]:
    """运行 ``command``，一见到 ``PAUSED`` 标记就用 SIGKILL 杀死它。

    期限是真正的期限：即使子进程一言不发地挂起，到时也会被杀死；后台
    线程读尽它的标准输出与标准错误，打印再多的日志也不会因管道写满而
    卡住（见 :mod:`dlbook._subprocess`）。

    Returns:
        ``(标准输出, 退出码)``；被 SIGKILL 杀死时退出码为 ``-9``。

    Raises:
        RuntimeError: 子进程没有停在注入点就结束了，或超过 ``timeout`` 秒。
    """
    child = Child(command, dict(os.environ))
    why = None
    try:
        if not _kill_at_pause(child, time.monotonic() + timeout):
            why = "没有停在注入点就结束了"
    except TimeoutError:
        why = f"超过 {timeout} 秒仍没有停在注入点，已被杀死"
    finally:
        out, err, code = child.finish()  # 还在运行就 SIGKILL
    if why:
        raise RuntimeError(
            f"子进程{why}（退出码 {code}）。标准错误的末尾：\n{err[-2000:]}"
        )
    return out, code


def run_and_kill(*args, timeout: float = 300) -> tuple[str, int]:
    """启动本模块的训练子进程，一见到 ``PAUSED`` 标记就用 SIGKILL 杀死它。

    SIGKILL 不能被捕获或忽略：进程来不及执行任何清理代码，这正是断电、
    内存不足被系统杀死、抢占式实例被回收时的情形。参数与返回值见
    :func:`run_until_pause`。
    """
    return run_until_pause(module_command(*args), timeout=timeout)


def _final_weights(model) -> dict:
    """模型全部权重，按序号命名，便于 np.savez 保存与比较。"""
    return {f"w{i}": np.asarray(w) for i, w in enumerate(model.get_weights())}


def main(argv=None) -> int:
    """命令行入口。"""
    parser = argparse.ArgumentParser(
        prog="python -m dlbook.resumable", description=__doc__.splitlines()[0]
    )
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("train", help="可恢复地训练")
    p.add_argument("--ckpt-dir", required=True)
    p.add_argument("--epochs", type=int, default=6)
    p.add_argument("--n-train", type=int, default=1000)
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--restore", choices=("full", "weights"), default="full")
    p.add_argument("--pause-at", default=None)
    p.add_argument("--out", default=None, help="训练结束后把权重存成 .npz")
    args = parser.parse_args(argv)

    import absl.logging

    tf = import_tensorflow_quickly()  # 导入期间暂停垃圾回收，省约 1 秒
    absl.logging.set_verbosity(absl.logging.ERROR)
    # 确定性算子：恢复后的训练才能与不中断的逐位相同（种子由 train 设定）
    tf.config.experimental.enable_op_determinism()
    model, _ = train(
        args.ckpt_dir,
        args.epochs,
        n_train=args.n_train,
        batch_size=args.batch_size,
        seed=args.seed,
        restore=args.restore,
        pause_at=args.pause_at,
        log=lambda s: print(s, flush=True),
    )
    if args.out:
        np.savez(args.out, **_final_weights(model))
    return 0


if __name__ == "__main__":
    skip_optional_imports()  # 子进程只训练：跳过 Keras 顺带导入的可选依赖
    sys.exit(main())
