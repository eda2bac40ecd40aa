"""读 ``keras.callbacks.OrbaxCheckpoint`` 写的检查点，并确认真的读进去了。

``OrbaxCheckpoint`` 把模型的全部状态存成一棵树：四组变量
（``trainable_variables``、``non_trainable_variables``、
``optimizer_variables``、``metrics_variables``），每个变量以它的
``variable.path`` 为键，例如 ``sequential/dense/kernel``。加载时
（``model.load_weights(目录)``）Keras 3.15 的 ``Model.set_state_tree``
按路径逐个匹配，**对不上的变量静默跳过**：在同一进程里新建的模型层名是
``dense_2``、模型名是 ``sequential_1``、优化器名是 ``adam_1``，路径全都
对不上，于是什么也没有加载，也不报错（keras-team/keras#23251 报告了
``load_model`` 的同一问题）。

:func:`load_orbax_checkpoint` 先读检查点的元数据（只有路径和形状，不读
数组），与模型的变量逐一核对；对不上就给出指名变量、说明怎么办的错误，
不改动模型；对得上才调用 ``model.load_weights``。
"""

import os

from dlbook.saving import CheckpointError

#: 需要逐个对上的变量组。``metrics_variables``（损失和准确率的累加器）
#: 每轮开始时清零，续训用不到，新模型在第一次 fit 之前也还没有它们。
GROUPS = (
    "trainable_variables",
    "non_trainable_variables",
    "optimizer_variables",
)


def _model_groups(model) -> dict:
    optimizer = getattr(model, "optimizer", None)
    return {
        "trainable_variables": model.trainable_variables,
        "non_trainable_variables": model.non_trainable_variables,
        "optimizer_variables": []
        if optimizer is None
        else optimizer.variables,
    }


def _flatten(tree, prefix=""):
    flat = {}
    for key, value in tree.items():
        if isinstance(value, dict):
            flat.update(_flatten(value, f"{prefix}{key}/"))
        else:  # 数组给出形状；标量（如 iteration）存成 Python 数
            flat[f"{prefix}{key}"] = tuple(getattr(value, "shape", ()))
    return flat


def step_directories(directory) -> list[int]:
    """directory 下已完成的检查点步数，从小到大。

    Orbax 先写 ``<步数>.orbax-checkpoint-tmp-…`` 临时目录，写完才改名为
    纯数字的 ``<步数>``，所以只认纯数字的子目录。
    """
    directory = _check_directory(directory)
    return sorted(
        int(name)
        for name in os.listdir(directory)
        if name.isdigit() and os.path.isdir(os.path.join(directory, name))
    )


def _check_directory(directory) -> str:
    directory = os.path.abspath(os.fspath(directory))
    if not os.path.isdir(directory):
        raise FileNotFoundError(
            f"找不到 Orbax 检查点目录 {directory}。请传入 "
            "OrbaxCheckpoint(directory=...) 用的那个目录。"
        )
    return directory


def _latest_step_dir(directory) -> str:
    # 返回“用户给的目录/最新步数”：报错信息里用读者自己写的路径
    steps = step_directories(directory)
    if not steps:
        raise CheckpointError(
            f"{os.fspath(directory)} 里没有已完成的 Orbax 检查点（纯数字"
            "命名的子目录）。训练是否在第一次保存之前就中断了？后台保存"
            "没写完时，只会留下 *.orbax-checkpoint-tmp-* 临时目录。"
        )
    return os.path.join(os.fspath(directory), str(steps[-1]))


def saved_variables(directory) -> dict:
    """最新一步检查点里各组变量的 {路径: 形状}，只读元数据、不读数组。"""
    from orbax.checkpoint import v1 as ocp

    step_dir = os.path.abspath(_latest_step_dir(directory))
    tree = ocp.checkpointables_metadata(step_dir).metadata["pytree"]
    return {group: _flatten(tree[group]) for group in GROUPS if group in tree}


def _mismatches(model, saved):
    # 检查点里的每个变量都要在模型里有同路径、同形状的变量，反之亦然
    problems = []
    for group, variables in _model_groups(model).items():
        if group not in saved:  # 例如 save_weights_only=True 时没有优化器
            continue
        have = {v.path: tuple(v.shape) for v in variables}
        for path, shape in saved[group].items():
            if path not in have:
                problems.append(f"{group}/{path}：模型里没有这个路径")
            elif have[path] != shape:
                problems.append(
                    f"{group}/{path}：检查点里形状 {shape}，"
                    f"模型里 {have[path]}"
                )
        problems += [
            f"{group}/{path}：检查点里没有，加载后会保持原值"
            for path in have
            if path not in saved[group]
        ]
    return problems


def check_orbax_checkpoint(model, directory) -> list[str]:
    """列出检查点与模型对不上的变量；空列表表示可以放心加载。"""
    return _mismatches(model, saved_variables(directory))


def load_orbax_checkpoint(model, directory) -> int:
    """把 directory 里最新一步的 Orbax 检查点加载进 model，返回步数。

    与直接调用 ``model.load_weights(directory)`` 相比多做了三件事：

    1. 路径一律转成绝对路径（Orbax 拒绝相对路径，报错却不说这一点）；
    2. 模型已编译而优化器尚未建立时，先建立优化器，否则检查点里的
       Adam 的 m、v 无处可放；
    3. 加载前核对每个变量的路径和形状；对不上时抛出
       :class:`~dlbook.saving.CheckpointError`，列出对不上的变量，
       并且不改动模型——而 Keras 会静默跳过它们。

    Args:
        model: 已建立（built）的 Keras 模型，结构与保存时相同。
        directory: ``OrbaxCheckpoint`` 的 ``directory``。

    Returns:
        加载的步数（按轮保存时是从 0 数起的轮次编号）。

    Raises:
        FileNotFoundError: 目录不存在。
        CheckpointError: 目录里没有完成的检查点，或与模型对不上。
    """
    step_dir = _latest_step_dir(directory)
    optimizer = getattr(model, "optimizer", None)
    if optimizer is not None and not optimizer.built:
        optimizer.build(model.trainable_variables)
    problems = check_orbax_checkpoint(model, directory)
    if problems:
        shown = "\n  ".join(problems[:4])
        more = f"\n  ……共 {len(problems)} 处" if len(problems) > 4 else ""
        raise CheckpointError(
            f"Orbax 检查点 {step_dir} 与模型对不上，model.load_weights "
            f"会静默跳过这些变量：\n  {shown}{more}\n"
            "Keras 按变量路径（variable.path）逐个匹配，路径里有模型名、"
            "层名、优化器名和随机数生成器名，同一进程里再建的模型会被"
            "自动编号（sequential_1、dense_2、adam_1、seed_generator_1）。"
            "请在新进程里建模型，或先调用 keras.backend.clear_session() "
            "再建；只给层显式命名还不够。形状不同则说明模型结构与保存时"
            "不同。"
        )
    # Keras 只把根目录认作 Orbax 检查点，并自己挑最新的一步；
    # Orbax 只接受绝对路径
    model.load_weights(os.path.abspath(os.path.dirname(step_dir)))
    return int(os.path.basename(step_dir))
