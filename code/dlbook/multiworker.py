"""多设备与多机训练中的检查点：tf.distribute 的两种镜像策略。

作为模块运行时，它是本书分布式演示和测试所用的入口::

    python -m dlbook.multiworker mirrored --ckpt-dir DIR
    python -m dlbook.multiworker worker --ckpt-dir DIR [--try-fit]

``mirrored`` 在一个进程里划分出两个逻辑 CPU，用 ``MirroredStrategy``
训练、保存、恢复并比对。``worker`` 是 ``MultiWorkerMirroredStrategy``
下一个工作节点（worker）的训练程序：自定义训练循环，每轮结束由主节点
（chief）用 ``tf.train.CheckpointManager`` 写检查点，其他节点写到各自的
临时目录再删掉；重新启动时从主节点的最新检查点继续。``--try-fit``
让它在训练之前先试一次 Keras 3 的 ``model.fit``，打印它的报错。
``worker`` 从环境变量 ``TF_CONFIG`` 读出集群地址和自己的编号。

:func:`run_cluster` 在本机启动整个集群（每个节点一个子进程），可以在
某个节点打印 ``PAUSED`` 标记时用 SIGKILL 杀死它；它用后台线程读尽子进程
的输出，并有硬超时，到时把仍在运行的子进程全部杀死。
"""

import argparse
import json
import os
import re
import shutil
import socket
import sys
import time

import numpy as np

from dlbook._subprocess import Child, import_tensorflow_quickly
from dlbook.data import load_flat_mnist
from dlbook.models import create_model
from dlbook.saving import atomic_save, load_weights_safely

#: 停在故障注入点时打印的标记（与 dlbook.resumable 相同）。
PAUSE_MARK = "PAUSED"
#: ``fit`` 子命令报错时打印的标记行的开头。
FIT_ERROR_MARK = "FIT-ERROR"


def _split_cpu(n_devices):
    import tensorflow as tf

    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(
        cpu, [tf.config.LogicalDeviceConfiguration()] * n_devices
    )
    # 设备划分好之后才能开确定性算子（开启它会初始化设备）。
    tf.config.experimental.enable_op_determinism()


def _mirrored_demo(ckpt_dir, n_devices, seed):
    import keras
    import tensorflow as tf

    devices = [f"/cpu:{i}" for i in range(n_devices)]
    strategy = tf.distribute.MirroredStrategy(devices)
    print(f"副本数 num_replicas_in_sync = {strategy.num_replicas_in_sync}")
    (X, y), (X_test, _) = load_flat_mnist(n_train=1000, n_test=200)
    keras.utils.set_random_seed(seed)
    with strategy.scope():
        model = create_model()
    print(f"权重变量的类型：{type(model.weights[0].value).__name__}")
    # 全局批量 64，每个副本各算 32 个样本，再把梯度求和同步。
    model.fit(X, y, batch_size=64, epochs=1, verbose=0)
    path = os.path.join(ckpt_dir, "mirrored.weights.h5")
    atomic_save(model, path)
    with strategy.scope():
        restored = create_model()
        load_weights_safely(restored, path)
    a = model.predict(X_test, verbose=0)
    b = restored.predict(X_test, verbose=0)
    np.testing.assert_allclose(b, a, rtol=0, atol=0)
    print(f"策略内保存、策略内恢复：预测最大差 {np.abs(a - b).max():.1e}")
    plain = create_model()  # 策略之外：一台普通的单设备模型
    load_weights_safely(plain, path)
    c = plain.predict(X_test, verbose=0)
    np.testing.assert_allclose(c, a, rtol=1e-5, atol=1e-5)
    print(f"策略内保存、策略外恢复：预测最大差 {np.abs(a - c).max():.1e}")


def mirrored_demo(ckpt_dir, n_devices: int = 2, seed: int = 0) -> None:
    """在几个逻辑 CPU 设备上用 MirroredStrategy 训练、保存、恢复并比对。

    必须在一个尚未初始化 TensorFlow 设备的新进程中调用：逻辑设备的
    划分只能在运行时初始化之前设定。划分之后才启用确定性算子。
    """
    if n_devices < 1:
        raise ValueError(f"n_devices 应为正整数，收到 {n_devices}。")
    _split_cpu(n_devices)
    _mirrored_demo(ckpt_dir, n_devices, seed)


# ----------------------------------------------------------------------
# 集群配置


def free_ports(n: int) -> list[int]:
    """向操作系统要 n 个当前空闲的本机 TCP 端口。

    端口在返回后才被工作节点占用，其间理论上可能被别的程序抢走；
    本机演示里这种竞争极少见，真出现时节点会报“地址已被占用”。
    """
    socks = []
    try:
        for _ in range(n):
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.bind(("localhost", 0))
            socks.append(s)
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


def tf_config(ports, index: int) -> dict:
    """第 index 号工作节点的 ``TF_CONFIG``：集群地址表和自己的编号。"""
    ports = [int(p) for p in ports]
    if not 0 <= index < len(ports):
        raise ValueError(
            f"工作节点编号 index={index} 超出范围：集群只有 {len(ports)} "
            f"个节点，编号应在 0 到 {len(ports) - 1} 之间。"
        )
    return {
        "cluster": {"worker": [f"localhost:{p}" for p in ports]},
        "task": {"type": "worker", "index": index},
    }


def is_chief(task_type, task_id) -> bool:
    """没有专门的 chief 任务时，0 号工作节点就是主节点。

    task_type 为 None 表示不在集群里（单进程），这个进程自己就是主节点。
    """
    if task_type is None:
        return True
    return task_type == "chief" or (task_type == "worker" and task_id == 0)


def _write_dir(ckpt_dir, task_type, task_id):
    if is_chief(task_type, task_id):
        return ckpt_dir
    # 其他节点：写进自己的临时目录，保存完就删掉
    return os.path.join(ckpt_dir, f"workertemp_{task_id}")


def write_dir(ckpt_dir, task_type, task_id) -> str:
    """本节点写检查点的目录：主节点写 ckpt_dir，其他节点写临时目录。"""
    return _write_dir(str(ckpt_dir), task_type, task_id)


# ----------------------------------------------------------------------
# 工作节点的训练程序


def _make_train_step(strategy, model, optimizer, global_batch):
    import keras
    import tensorflow as tf

    loss_fn = keras.losses.SparseCategoricalCrossentropy(
        from_logits=True, reduction=None
    )

    def replica_step(X, y):
        with tf.GradientTape() as tape:
            per_example = loss_fn(y, model(X, training=True))
            # 除以全局批量：各节点的梯度求和后，正好是全局批量的平均
            loss = tf.nn.compute_average_loss(
                per_example, global_batch_size=global_batch
            )
        grads = tape.gradient(loss, model.trainable_variables)
        # Keras 优化器在这里先对所有节点的梯度做 all-reduce 求和
        optimizer.apply_gradients(
            zip(grads, model.trainable_variables, strict=True)
        )
        return loss

    @tf.function
    def train_step(X, y):
        per_replica = strategy.run(replica_step, args=(X, y))
        return strategy.reduce("SUM", per_replica, axis=None)

    return train_step


def _train_epochs(model, epoch, manager, step, data, cfg, hook):
    from dlbook.resumable import reseed_dropout

    (X, y), task_id, n_workers = data, cfg["task_id"], cfg["n_workers"]
    bs, seed = cfg["batch_size"], cfg["seed"]
    while int(epoch.numpy()) < cfg["epochs"]:
        e = int(epoch.numpy())
        reseed_dropout(model, seed, e)
        # 每个节点算出同一个全局顺序，再各取每个全局批量中属于自己的一份
        order = np.random.default_rng([seed, e]).permutation(len(X))
        losses = []
        for b, start in enumerate(range(0, len(X), bs)):
            mine = order[start : start + bs][task_id::n_workers]
            losses.append(step(X[mine], y[mine]))
            hook(e + 1, b + 1)
        epoch.assign_add(1)
        # 每个节点都要调用 save：保存时可能要聚合变量，须全员参加
        path = manager.save(checkpoint_number=int(epoch.numpy()))
        if not is_chief(cfg["task_type"], task_id):
            shutil.rmtree(manager.directory, ignore_errors=True)
        yield int(epoch.numpy()), float(np.mean(losses)), path


def train_worker(
    strategy,
    ckpt_dir,
    epochs: int = 3,
    *,
    n_train: int = 256,
    batch_size: int = 64,
    seed: int = 0,
    pause_at=None,
    data=None,
    log=print,
):
    """本节点参加 MultiWorkerMirroredStrategy 训练；由 ``TF_CONFIG`` 定集群。

    自定义训练循环：每个全局批量按节点编号交错分给各节点，梯度求和后
    同步更新。每轮结束时所有节点都调用 ``CheckpointManager.save``，但
    只有主节点写进 ckpt_dir，其他节点写进临时目录随即删除。启动时
    所有节点都从 ckpt_dir 中主节点的最新检查点恢复。

    Args:
        strategy: 本进程的 ``tf.distribute.MultiWorkerMirroredStrategy``
            （每个进程只能创建一个）；传默认策略
            ``tf.distribute.get_strategy()`` 则在单进程里训练，作对照。
        ckpt_dir: 主节点的检查点目录（重启后仍在的共享存储）。
        epochs: 总轮数（包括恢复前已完成的）。
        n_train: 训练样本数；须能被 batch_size 整除。
        batch_size: 全局批量大小；须能被节点数整除。
        seed: 随机种子；初始权重、每轮数据顺序和 Dropout 掩码由它
            （与轮次）决定。
        pause_at: ``"batch:E:B"`` 表示在第 E 轮第 B 个批量之后打印
            ``PAUSED`` 并停住，等待父进程杀死本节点；None 表示不停。
        data: ``(X, y)`` 或 :func:`save_data` 写的 ``.npz`` 路径；None
            表示用 ``load_flat_mnist(n_train)`` 读取。
        log: 打印进度的函数。

    Returns:
        ``(model, task_id)``：训练好的模型与本节点编号。
    """
    import keras
    import tensorflow as tf

    pause = _parse_pause(pause_at)
    resolver = getattr(strategy, "cluster_resolver", None)
    n_workers = strategy.num_replicas_in_sync
    _check_sizes(n_train, batch_size, n_workers)
    # 不在集群里（默认策略）时没有 cluster_resolver：当作唯一的主节点
    task_type = resolver.task_type if resolver else None
    task_id = resolver.task_id if resolver else 0
    cfg = dict(
        task_type=task_type,
        task_id=task_id,
        n_workers=n_workers,
        epochs=epochs,
        batch_size=batch_size,
        seed=seed,
    )
    X, y = _training_data(data, n_train)
    keras.utils.set_random_seed(seed)
    with strategy.scope():
        model = create_model()
        optimizer = keras.optimizers.Adam()
        optimizer.build(model.trainable_variables)
        epoch = tf.Variable(0, dtype=tf.int64, name="epoch")
    checkpoint = tf.train.Checkpoint(
        model=model, optimizer=optimizer, epoch=epoch
    )
    own_dir = write_dir(ckpt_dir, task_type, task_id)
    manager = tf.train.CheckpointManager(checkpoint, own_dir, max_to_keep=2)
    latest = tf.train.latest_checkpoint(str(ckpt_dir))
    name = f"worker {task_id}"
    if latest:
        checkpoint.restore(latest).assert_existing_objects_matched()
        log(
            f"{name}：从 {os.path.basename(latest)} 恢复，已完成 "
            f"{int(epoch.numpy())} 轮"
        )
    else:
        log(f"{name}：没有检查点，从头训练 {epochs} 轮")

    def hook(e, b):
        if pause == (e, b):
            print(f"{PAUSE_MARK} {name} batch:{e}:{b}", flush=True)
            time.sleep(600)
            raise SystemExit(f"{name} 在 {pause_at} 处等待 SIGKILL 超时")

    step = _make_train_step(strategy, model, optimizer, batch_size)
    data = (X, y)
    for e, loss, path in _train_epochs(
        model, epoch, manager, step, data, cfg, hook
    ):
        where = os.path.relpath(path, str(ckpt_dir))
        log(f"{name}：第 {e}/{epochs} 轮  loss={loss:.6f}  写入 {where}")
    return model, task_id


def save_data(path, n_train: int = 256) -> str:
    """把训练数据读一次、存成 ``.npz``，供各工作节点直接读取。

    真实集群里各节点从共享存储读同一份数据；这里让本机的几个节点
    不必各自重新解析一遍数据集。
    """
    (X, y), _ = load_flat_mnist(n_train=n_train, n_test=1)
    np.savez(path, X=X, y=y)
    return str(path)


def _training_data(data, n_train):
    """见 :func:`train_worker` 的 data 参数。"""
    if data is None:
        (X, y), _ = load_flat_mnist(n_train=n_train, n_test=1)
        return X, y
    if isinstance(data, (str, os.PathLike)):
        with np.load(data) as f:
            X, y = f["X"], f["y"]
    else:
        X, y = data
    if len(X) != n_train or len(y) != n_train:
        raise ValueError(
            f"数据有 {len(X)} 个样本、{len(y)} 个标签，而 n_train={n_train}；"
            "请让两者一致（save_data 的 n_train 与训练时相同）。"
        )
    return X, y


def _parse_pause(pause_at):
    """把 ``batch:E:B`` 解析成 ``(E, B)``；None 表示不停。"""
    if pause_at is None:
        return None
    parts = str(pause_at).split(":")
    if len(parts) == 3 and parts[0] == "batch":
        try:
            return int(parts[1]), int(parts[2])
        except ValueError:
            pass
    raise ValueError(
        f"无法理解 pause_at={pause_at!r}；应为 'batch:轮次:批量'，"
        "轮次和批量都从 1 数起。"
    )


def _check_sizes(n_train, batch_size, n_workers):
    """全局批量要能平分给各节点，样本数要能分成整数个批量。"""
    if batch_size % n_workers:
        raise ValueError(
            f"全局批量 batch_size={batch_size} 不能被节点数 {n_workers} "
            "整除；请换一个节点数的整数倍。"
        )
    if n_train % batch_size:
        raise ValueError(
            f"样本数 n_train={n_train} 不能被 batch_size={batch_size} "
            "整除；请让每个批量都是满的，免得 tf.function 重新追踪。"
        )


def fit_attempt(strategy, data=None) -> None:
    """在本节点所在的集群里尝试 Keras 3 的 ``model.fit``，打印结果。"""
    import keras
    import tensorflow as tf

    X, y = _training_data(data, 256)
    keras.utils.set_random_seed(0)
    with strategy.scope():
        model = create_model()
    dataset = tf.data.Dataset.from_tensor_slices((X, y)).batch(64)
    try:
        model.fit(dataset, epochs=1, verbose=0)
    except Exception as e:  # noqa: BLE001 （要展示的正是这个异常）
        # 消息中间是一大段张量的值，只留第一行和最后一行
        lines = str(e).strip().splitlines()
        msg = lines[0] + (" ... " + lines[-1] if len(lines) > 1 else "")
        print(f"{FIT_ERROR_MARK} {type(e).__name__}: {msg}", flush=True)
    else:
        print("FIT-OK", flush=True)


# ----------------------------------------------------------------------
# 在本机启动整个集群


def module_command(*args) -> list[str]:
    """以当前解释器运行 ``python -m dlbook.multiworker ARGS`` 的命令行。"""
    return [sys.executable, "-m", "dlbook.multiworker", *map(str, args)]


def run_children(commands, *, kill_on_pause=False, grace=30.0, timeout=420.0):
    """运行一组子进程直到全部结束，带硬超时；见 :func:`run_cluster`。

    Args:
        commands: ``(命令行, 环境变量)`` 的列表。

    Returns:
        ``(结果列表, 被杀进程的序号或 None)``。
    """
    children = [Child(cmd, env) for cmd, env in commands]
    deadline = time.monotonic() + timeout
    killed, kill_time = None, None
    try:
        while any(c.proc.poll() is None for c in children):
            now = time.monotonic()
            if now > deadline:
                raise RuntimeError(
                    f"子进程在 {timeout} 秒内没有结束，已全部杀死。"
                    + _tails(children)
                )
            if kill_on_pause and killed is None:
                for i, c in enumerate(children):
                    if any(s.startswith(PAUSE_MARK) for s in c.out):
                        c.kill()
                        killed, kill_time = i, now
                        break
            if kill_time is not None and now > kill_time + grace:
                break  # 幸存者卡住了：下面的 finish 把它们也杀死
            time.sleep(0.05)
    finally:
        results = [c.finish() for c in children]
    if kill_on_pause and killed is None:
        raise RuntimeError("没有子进程停在注入点。" + _tails(children))
    return results, killed


def run_cluster(command_args, n_workers: int = 2, **kwargs):
    """在本机启动 n_workers 个工作节点，等它们结束，返回各自的结果。

    每个节点是一个 ``python -m dlbook.multiworker`` 子进程，环境变量
    ``TF_CONFIG`` 给出集群（端口自动挑选空闲的）和它自己的编号。后台
    线程读尽每个子进程的 stdout/stderr，输出再多也不会卡住。

    Args:
        command_args: 函数 ``f(index) -> list``，给出第 index 号节点的
            命令行参数，见 :func:`worker_args`。
        n_workers: 节点数。
        kill_on_pause: 为 True 时，一旦某个节点打印 ``PAUSED`` 标记，
            就用 SIGKILL 杀死它；其余节点最多再等 grace 秒，仍未退出的
            也杀死，就像集群管理器整体重启作业之前做的那样。
        grace: 见上，默认 30 秒。
        timeout: 硬超时（秒），默认 420：到时仍在运行的节点全部被
            SIGKILL，即使它们什么也不打印；然后抛出 RuntimeError。

    Returns:
        ``(结果列表, 被杀节点编号或 None)``；结果列表第 i 项是第 i 号
        节点的 ``(标准输出, 标准错误, 退出码)``，被 SIGKILL 的节点退出码
        为 ``-9``。
    """
    ports = free_ports(n_workers)
    commands = []
    for i in range(n_workers):
        env = dict(os.environ, TF_CONFIG=json.dumps(tf_config(ports, i)))
        commands.append((module_command(*command_args(i)), env))
    return run_children(commands, **kwargs)


def run_module(*args, timeout: float = 420.0) -> str:
    """在一个子进程里运行本模块（不设 TF_CONFIG），返回其标准输出。"""
    env = {k: v for k, v in os.environ.items() if k != "TF_CONFIG"}
    results, _ = run_children([(module_command(*args), env)], timeout=timeout)
    return check_ok(results)[0]


def _tails(children) -> str:
    """各子进程标准输出与标准错误的末尾，放进异常信息里便于诊断。"""
    parts = []
    for i, c in enumerate(children):
        for name, buf in (("标准输出", c.out), ("标准错误", c.err)):
            parts.append(f"\n--- 子进程 {i} {name}末尾 ---\n")
            parts.append("".join(buf)[-1500:])
    return "".join(parts)


def worker_args(
    ckpt_dir, out_dir, epochs, pause=None, try_fit=False, data=None
):
    """返回给 :func:`run_cluster` 用的参数函数：训练并把权重存到 out_dir。

    pause 为 ``(节点编号, "batch:E:B")`` 时，让该节点停在那里。
    """

    def args(i):
        a = ["worker", "--ckpt-dir", ckpt_dir, "--epochs", epochs]
        a += ["--try-fit"] if try_fit else []
        a += ["--data", data] if data is not None else []
        a += ["--out", os.path.join(str(out_dir), f"worker-{i}.npz")]
        if pause is not None and pause[0] == i:
            a += ["--pause-at", pause[1]]
        return a

    return args


def check_ok(results) -> list[str]:
    """要求每个节点都以 0 退出；返回各节点的标准输出。"""
    for i, (_, err, rc) in enumerate(results):
        if rc != 0:
            raise RuntimeError(
                f"子进程 {i} 以退出码 {rc} 结束。标准错误的末尾：\n"
                + err[-2000:]
            )
    return [out for out, _, _ in results]


def error_summary(stderr: str) -> str:
    """从标准错误里找出最后一个异常的类名，以及集体通信中止的原因。"""
    kinds = re.findall(
        r"^(?:[\w.]+\.)?(\w+(?:Error|Exception)):", stderr, re.M
    )
    kind = kinds[-1] if kinds else "（没有找到异常）"
    why = re.search(r"^Collective ops is aborted by: .*$", stderr, re.M)
    return kind + (f": {why.group(0)}" if why else "")


def load_npz(path) -> list:
    """读出 :func:`main` 用 ``--out`` 存下的权重列表。"""
    with np.load(path) as f:
        return [f[f"w{i}"] for i in range(len(f.files))]


def main(argv=None) -> int:
    """命令行入口。"""
    parser = argparse.ArgumentParser(
        prog="python -m dlbook.multiworker",
        description=__doc__.splitlines()[0],
    )
    sub = parser.add_subparsers(dest="command", required=True)
    m = sub.add_parser("mirrored", help="MirroredStrategy 下保存与恢复")
    m.add_argument("--ckpt-dir", required=True)
    m.add_argument("--devices", type=int, default=2)
    w = sub.add_parser("worker", help="多机训练中的一个工作节点")
    w.add_argument("--ckpt-dir", required=True)
    w.add_argument("--epochs", type=int, default=3)
    w.add_argument("--n-train", type=int, default=256)
    w.add_argument("--batch-size", type=int, default=64)
    w.add_argument("--seed", type=int, default=0)
    w.add_argument("--pause-at", default=None)
    w.add_argument("--out", default=None, help="训练结束后把权重存成 .npz")
    w.add_argument("--data", default=None, help="save_data 写的 .npz")
    w.add_argument(
        "--try-fit",
        action="store_true",
        help="训练之前先试一次 Keras 3 的 model.fit，打印结果",
    )
    args = parser.parse_args(argv)

    import absl.logging

    absl.logging.set_verbosity(absl.logging.ERROR)
    if args.command == "mirrored":
        import_tensorflow_quickly()  # 只导入，不做运算：设备尚未初始化
        # 不调用 dlbook.setup()：它会初始化 TensorFlow 的设备，之后就
        # 不能再划分逻辑设备了。只静默日志；mirrored_demo 在划分好设备
        # 之后自己启用确定性算子。
        mirrored_demo(args.ckpt_dir, n_devices=args.devices)
        return 0
    if "TF_CONFIG" not in os.environ:
        raise SystemExit(
            "没有设置环境变量 TF_CONFIG：请用 dlbook.multiworker.run_cluster "
            "启动，或按 tf_config() 的格式自己设置。"
        )
    tf = import_tensorflow_quickly()
    # 确定性算子：中断再恢复的训练才能与不中断的逐位相同
    tf.config.experimental.enable_op_determinism()
    strategy = tf.distribute.MultiWorkerMirroredStrategy()
    if args.try_fit:
        fit_attempt(strategy, args.data)
    model, _ = train_worker(
        strategy,
        args.ckpt_dir,
        args.epochs,
        n_train=args.n_train,
        batch_size=args.batch_size,
        seed=args.seed,
        pause_at=args.pause_at,
        data=args.data,
        log=lambda s: print(s, flush=True),
    )
    if args.out:
        weights = {
            f"w{i}": np.asarray(w) for i, w in enumerate(model.get_weights())
        }
        np.savez(args.out, **weights)
    return 0


if __name__ == "__main__":
    from dlbook._subprocess import skip_optional_imports

    skip_optional_imports()  # 子进程只训练：跳过 Keras 顺带导入的可选依赖
    sys.exit(main())
