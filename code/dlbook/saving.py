"""保存和加载模型：本书第一部分展示并调用的、经过测试的工具。

包括查找最新检查点的
:func:`latest_checkpoint`、清理旧检查点的 :func:`prune_checkpoints`、
“先写临时文件再改名”的原子保存 :func:`atomic_save`，以及在加载前先检查
文件、出错时给出清楚提示且不改动模型的 :func:`load_weights_safely` 与
:func:`load_model_safely`。
"""

import os
import re
import string
import tempfile
import zipfile
from typing import NamedTuple

import numpy as np

#: HDF5 文件开头的 8 字节签名（``.weights.h5`` 与旧式 ``.h5``）。
HDF5_SIGNATURE = b"\x89HDF\r\n\x1a\n"
#: ZIP 文件开头的 4 字节签名（``.keras`` 文件是一个 zip 包）。
ZIP_SIGNATURE = b"PK\x03\x04"
#: 本模块认识的保存格式后缀。
SUFFIXES = (".weights.h5", ".keras", ".h5")


class CheckpointError(ValueError):
    """检查点文件存在，但无法使用：损坏、截断、格式不对或结构不匹配。"""


def _suffix(path) -> str:
    """返回 path 的保存格式后缀；不认识时返回空串。"""
    name = os.path.basename(os.fspath(path))
    for suffix in SUFFIXES:  # ".weights.h5" 要先于 ".h5" 匹配
        if name.endswith(suffix):
            return suffix
    return ""


def _template_regex(template):
    # 把 ModelCheckpoint 的文件名模板变成正则：{epoch} 处捕获数字，
    # 其他字段（如 {val_loss:.2f}）匹配任意文本，其余字符按原样匹配。
    parts = []
    for literal, field, spec, _ in string.Formatter().parse(template):
        parts.append(re.escape(literal))
        if field == "epoch":
            parts.append(r"(?P<epoch>\d+)")
        elif field is not None:
            parts.append(r"-?\d+" if (spec or "").endswith("d") else ".+?")
    return re.compile("".join(parts))


def _check_template(template) -> str:
    """检查文件名模板，返回去掉目录部分的模板。"""
    if not isinstance(template, str):
        raise TypeError(
            f"template 应为字符串（保存时用的文件名模板，如 "
            f"'cp-{{epoch:04d}}.weights.h5'），收到 {template!r}。"
        )
    name = os.path.basename(template)
    fields = [f for _, f, _, _ in string.Formatter().parse(name) if f]
    if fields.count("epoch") != 1 or not _suffix(name):
        raise ValueError(
            f"文件名模板 {template!r} 应恰好含一个 {{epoch}} 字段，并以 "
            f"{'、'.join(SUFFIXES)} 之一结尾；例如 "
            "'cp-{epoch:04d}.weights.h5' 或 "
            "'{epoch:02d}-{val_loss:.2f}.keras'。请传入保存检查点时"
            "交给 ModelCheckpoint 或 atomic_save 的同一个模板。"
        )
    return name


def checkpoint_epoch(path, template) -> int | None:
    """按保存时的文件名模板读出检查点的轮次编号。

    例如模板 ``"{epoch:02d}-{val_loss:.2f}.weights.h5"`` 下，
    ``05-0.43.weights.h5`` 的轮次是 5（而不是 43）。

    Args:
        path: 检查点路径（只看文件名）。
        template: 保存时交给 ``ModelCheckpoint`` 的文件名模板；可以含
            目录部分，只用其文件名。

    Returns:
        轮次编号；文件名不符合模板时返回 None。
    """
    pattern = _template_regex(_check_template(template))
    match = pattern.fullmatch(os.path.basename(os.fspath(path)))
    return int(match["epoch"]) if match else None


def _is_temporary(name: str) -> bool:
    """atomic_save 的临时文件以“.”开头，查找检查点时必须跳过。"""
    return name.startswith(".")


def remove_stale_temporaries(directory) -> list[str]:
    """删除 :func:`atomic_save` 被中断后留下的临时文件，返回其路径。

    临时文件名形如 ``.cp.weights.h5.tmp-XXXX.weights.h5``：以“.”开头且
    含 ``.tmp-``。只有在没有其他进程正在向该目录保存时才应调用。
    """
    directory = os.fspath(directory)
    if not os.path.isdir(directory):
        return []
    removed = []
    for name in sorted(os.listdir(directory)):
        if _is_temporary(name) and ".tmp-" in name:
            path = os.path.join(directory, name)
            os.remove(path)
            removed.append(path)
    return removed


def _check_directory(directory) -> str:
    directory = os.fspath(directory)
    if not os.path.exists(directory):
        raise FileNotFoundError(
            f"检查点目录 {directory} 不存在。请检查路径是否拼写正确，"
            "以及训练时 ModelCheckpoint/atomic_save 是否写到了这里。"
        )
    if not os.path.isdir(directory):
        raise NotADirectoryError(
            f"{directory} 是一个文件，而这里需要检查点所在的目录。"
            f"如果想加载这个文件本身，请直接把它传给 load_weights_safely "
            "或 load_model_safely。"
        )
    return directory


def _sorted_checkpoints(directory, template):
    # 按模板读出轮次，按 (轮次, 修改时间, 文件名) 从旧到新排序；
    # 不符合模板的文件放进 others，而不是猜它的轮次。
    pattern = _template_regex(template)
    found, others = [], []
    for name in sorted(os.listdir(directory)):
        if _is_temporary(name):
            continue
        path = os.path.join(directory, name)
        match = pattern.fullmatch(name)
        if match:
            key = (int(match["epoch"]), os.stat(path).st_mtime_ns, name)
            found.append((key, path))
        else:
            others.append(path)
    return [path for _, path in sorted(found)], others


def list_checkpoints(directory, template) -> list[str]:
    """列出目录中符合文件名模板的检查点，按从旧到新排序。

    排序依据是按模板读出的轮次编号（见 :func:`checkpoint_epoch`），编号
    相同时再比较修改时间和文件名。以“.”开头的文件（包括
    :func:`atomic_save` 未完成的临时文件）和不符合模板的文件都不算。

    Args:
        directory: 检查点目录。
        template: 保存时用的文件名模板，如 ``"cp-{epoch:04d}.weights.h5"``。

    Returns:
        完整路径的列表；目录中没有检查点时为空列表。

    Raises:
        FileNotFoundError: 目录不存在。
        NotADirectoryError: directory 是一个文件而不是目录。
        ValueError: 模板里没有 ``{epoch}`` 或后缀不认识。
    """
    template = _check_template(template)
    directory = _check_directory(directory)
    return _sorted_checkpoints(directory, template)[0]


def latest_checkpoint(directory, template, *, missing_ok: bool = False):
    """返回目录中轮次最大的检查点（取代对新格式失效的
    ``tf.train.latest_checkpoint``）。

    Args:
        directory: 检查点目录。
        template: 保存时用的文件名模板，如 ``"cp-{epoch:04d}.weights.h5"``。
        missing_ok: 为 True 时，目录不存在或没有检查点都返回 None
            （用于“有检查点就恢复，没有就从头训练”）。

    Returns:
        最新检查点的路径（字符串），或 None（仅当 ``missing_ok=True``）。

    Raises:
        FileNotFoundError: 目录不存在，或其中没有符合模板的检查点。
    """
    template = _check_template(template)
    directory = os.fspath(directory)
    if missing_ok and not os.path.isdir(directory):
        return None
    paths = list_checkpoints(directory, template)
    if paths:
        return paths[-1]
    if missing_ok:
        return None
    others = sorted(os.listdir(directory))
    seen = "、".join(others[:5]) + (" 等" if len(others) > 5 else "")
    raise FileNotFoundError(
        f"目录 {directory} 中没有符合模板 {template} 的检查点"
        f"（目录中{'的文件：' + seen if others else '是空的'}）。"
        "请确认保存时用的是同一个文件名模板、保存到了这个目录，"
        "或者先训练至少一轮再恢复。"
    )


class PruneResult(NamedTuple):
    """:func:`prune_checkpoints` 的结果：删除、保留、跳过的文件。"""

    removed: list
    kept: list
    skipped: list


def _plan_prune(paths, keep):
    # paths 已按轮次从旧到新排好；保留最后 keep 个，再加上最近写入的
    # 那个（例如从头重跑后写下的 cp-0001 比旧的 cp-0005 更新）。
    kept = set(paths[-keep:])
    kept.add(max(paths, key=lambda p: os.stat(p).st_mtime_ns))
    return [p for p in paths if p not in kept]


def prune_checkpoints(directory, keep: int = 3, *, template) -> PruneResult:
    """删除旧检查点，只保留轮次编号最大的 keep 个。

    只删除符合文件名模板的检查点。不符合模板的文件（如
    ``save_best_only`` 保存的 ``best.weights.h5``，或别的命名方式的
    文件）一个也不删，而是放进结果的 ``skipped`` 里报告出来。最新写入
    的检查点即使轮次编号较小也不删。

    Args:
        directory: 检查点目录。
        keep: 保留的个数，至少为 1：永远不删最新的那个。
        template: 保存时用的文件名模板。

    Returns:
        :class:`PruneResult`：``removed``（从旧到新）、``kept`` 和
        ``skipped``（目录中不符合模板、因而没有动的文件）。
    """
    if isinstance(keep, bool) or not isinstance(keep, int) or keep < 1:
        raise ValueError(
            f"keep 应为不小于 1 的整数，收到 {keep!r}；"
            "至少要保留最新的一个检查点，否则无从恢复。"
        )
    template = _check_template(template)
    directory = _check_directory(directory)
    paths, skipped = _sorted_checkpoints(directory, template)
    removed = _plan_prune(paths, keep) if paths else []
    for path in removed:
        os.remove(path)
    kept = [p for p in paths if p not in removed]
    return PruneResult(removed, kept, skipped)


def _umask() -> int:
    """当前进程的 umask（只能“设一下再改回来”地读出）。"""
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def _atomic_save(model, path, suffix, before_replace=None):
    # 临时文件与目标在同一目录（同一文件系统），os.replace 才是原子的；
    # 它保留原后缀，因为 Keras 按后缀决定保存格式。
    directory = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(
        prefix=f".{os.path.basename(path)}.tmp-", suffix=suffix, dir=directory
    )
    os.close(fd)
    try:
        if suffix == ".weights.h5":
            model.save_weights(tmp, overwrite=True)
        else:
            model.save(tmp, overwrite=True)
        # mkstemp 建的文件只有自己可读（0600）；改成普通保存会得到的权限
        os.chmod(tmp, _target_mode(path))
        with open(tmp, "rb") as f:
            os.fsync(f.fileno())  # 先落盘再改名，断电后才不会得到空文件
        if before_replace is not None:
            before_replace(tmp)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise
    _fsync_directory(directory)  # 让改名本身也落盘


def _target_mode(path) -> int:
    """普通保存会留下的权限：覆盖已有文件时保持原权限，新文件按 umask。"""
    if os.path.exists(path):
        return os.stat(path).st_mode & 0o7777
    return 0o666 & ~_umask()


def _fsync_directory(directory) -> None:
    dir_fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


def atomic_save(model, path, *, before_replace=None) -> str:
    """原子地保存模型：先写同目录下的临时文件，再用 ``os.replace`` 改名。

    ``os.replace`` 在同一个文件系统内是原子操作：其他进程看到的要么是
    旧文件，要么是写完的新文件。因此即使进程在保存途中被杀死，path 处
    原有的检查点也完好无损，留下的只是一个以“.”开头的临时文件。保存
    后的文件权限与直接保存相同（新文件按 umask，覆盖时保持原权限）。

    Args:
        model: Keras 模型。
        path: 目标路径。后缀 ``.weights.h5`` 只存权重（含优化器状态），
            ``.keras`` 存整个模型，``.h5`` 为旧式 HDF5 整模型格式。
        before_replace: 可选的回调，参数为临时文件路径，在改名之前调用；
            本书用它在“写到一半”时注入故障。

    Returns:
        path（字符串）。

    Raises:
        ValueError: 后缀不是上面三种之一。
    """
    path = os.fspath(path)
    suffix = _suffix(path)
    if not suffix:
        raise ValueError(
            f"无法判断 {path} 的保存格式：文件名应以 "
            f"{'、'.join(SUFFIXES)} 之一结尾。只存权重请用 .weights.h5，"
            "存整个模型请用 .keras。"
        )
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    _atomic_save(model, path, suffix, before_replace)
    return path


def check_checkpoint_file(path) -> str:
    """在交给 Keras 之前检查文件：存在、非空、格式签名与后缀相符、完整。

    Args:
        path: ``.weights.h5``、``.keras`` 或 ``.h5`` 文件的路径。

    Returns:
        文件的格式后缀，如 ``".keras"``。

    Raises:
        FileNotFoundError: 文件不存在。
        CheckpointError: 文件为空、被截断、已损坏或不是声称的格式。
    """
    path = os.fspath(path)
    suffix = _suffix(path)
    if not os.path.exists(path):
        folder = os.path.dirname(path) or "."
        raise FileNotFoundError(
            f"检查点文件 {path} 不存在。请检查路径；要找目录 {folder} "
            "中最新的检查点，可以用 dlbook.saving.latest_checkpoint。"
        )
    if os.path.isdir(path):
        raise CheckpointError(
            f"{path} 是一个目录。如果它是 model.export() 导出的 "
            "SavedModel，请用 keras.layers.TFSMLayer 加载；如果它存放着"
            "检查点，请先用 latest_checkpoint 找出其中的文件。"
        )
    if not suffix:
        raise CheckpointError(
            f"无法判断 {path} 的格式：文件名应以 "
            f"{'、'.join(SUFFIXES)} 之一结尾。"
        )
    size = os.path.getsize(path)
    broken = (
        "它可能在写入时被中断（例如保存途中进程被杀死），或在复制、下载"
        "时损坏。请改用上一个检查点（dlbook.saving.list_checkpoints 列出"
        "全部），或重新训练；不要覆盖其他检查点。"
    )
    if size == 0:
        raise CheckpointError(f"检查点文件 {path} 是空的（0 字节）。{broken}")
    with open(path, "rb") as f:
        head = f.read(8)
    if suffix == ".keras":
        if not head.startswith(ZIP_SIGNATURE):
            raise CheckpointError(
                f"{path} 不是 .keras 文件：.keras 文件是 zip 包，应以 "
                f"{ZIP_SIGNATURE!r} 开头，而它以 {head[:4]!r} 开头。{broken}"
            )
        try:
            with zipfile.ZipFile(path) as zf:
                bad = zf.testzip()
                names = set(zf.namelist())
        except (zipfile.BadZipFile, OSError, EOFError) as err:
            raise CheckpointError(
                f"{path} 不是完整的 zip 包（{err}），"
                f"大小 {size} 字节。{broken}"
            ) from err
        if bad is not None or not {"config.json"} <= names:
            raise CheckpointError(
                f"{path} 中的成员 {bad or 'config.json'} 损坏或缺失。{broken}"
            )
        return suffix
    if head != HDF5_SIGNATURE:
        raise CheckpointError(
            f"{path} 不是 HDF5 文件：应以 {HDF5_SIGNATURE!r} 开头，而它以 "
            f"{head!r} 开头。{broken}"
        )
    import h5py

    try:
        with h5py.File(path, "r") as f:
            f.visit(lambda name: None)  # 遍历一遍，读坏的结构会报错
    except OSError as err:
        raise CheckpointError(
            f"{path} 是不完整的 HDF5 文件（{err}），"
            f"大小 {size} 字节。{broken}"
        ) from err
    return suffix


def _state_variables(model) -> list:
    """模型与（已建立的）优化器的全部变量，用于出错时原样恢复。"""
    variables = list(model.weights)
    optimizer = getattr(model, "optimizer", None)
    if optimizer is not None and optimizer.built:
        variables += list(optimizer.variables)
    return variables


def _load_with_rollback(model, path):
    # 先建立优化器，否则 Keras 会跳过文件里的优化器状态
    optimizer = getattr(model, "optimizer", None)
    if optimizer is not None and not optimizer.built:
        optimizer.build(model.trainable_variables)
    variables = _state_variables(model)
    snapshot = [np.array(v.numpy()) for v in variables]
    try:
        model.load_weights(path)
    except BaseException:
        # Keras 会先载入对得上的层、再报错：把所有变量改回加载前的值
        for variable, value in zip(variables, snapshot, strict=True):
            variable.assign(value)
        raise


#: Keras 结构不匹配报错中说明形状的那一句。
_SHAPE_LINE = re.compile(
    r"variable\.shape=\([^)]*\), Received: value\.shape=\([^)]*\)"
)


def keras_summary(err) -> str:
    """Keras 加载报错的要点：第一行，加上说明形状的那一句（若有）。

    Keras 3 的结构不匹配报错第一行只说“有 N 个对象无法加载”，形状在
    后面某一行里，再往后是整个权重矩阵的打印；这里只取这两句。
    """
    text = str(err).strip()
    first = text.splitlines()[0].rstrip(":：") if text else type(err).__name__
    shape = _SHAPE_LINE.search(text)
    return f"{first}；{shape.group(0)}。" if shape else f"{first}。"


def load_weights_safely(model, path):
    """检查文件后把权重加载进 model；失败时给出清楚的错误，且不改动 model。

    与直接调用 ``model.load_weights`` 相比多做了三件事：

    1. 先用 :func:`check_checkpoint_file` 检查文件，错误信息指名文件、
       说明原因和该怎么办；
    2. 模型已编译而优化器尚未建立时，先建立优化器，否则 Keras 会
       跳过文件中的优化器状态（只发出一条警告）；
    3. 加载失败（例如模型结构不匹配）时把模型与优化器的变量恢复原样。

    Args:
        model: 已建立（built）的 Keras 模型。
        path: ``.weights.h5`` 文件路径。

    Returns:
        model 本身，便于链式调用。

    Raises:
        FileNotFoundError: 文件不存在。
        CheckpointError: 文件损坏，或其中的权重与 model 的结构不匹配。
    """
    path = os.fspath(path)
    suffix = check_checkpoint_file(path)
    if suffix == ".keras":
        raise CheckpointError(
            f"{path} 是整个模型（.keras），请用 load_model_safely 加载；"
            "load_weights_safely 只接受 .weights.h5 文件。"
        )
    try:
        _load_with_rollback(model, path)
    except (ValueError, KeyError, OSError) as err:
        raise CheckpointError(
            f"{path} 中的权重与模型 {model.name!r} 的结构不匹配，"
            f"模型和优化器保持原样未被改动。Keras 报告：{keras_summary(err)}"
            "请用创建这个检查点时的同一个模型结构（例如同一个 "
            "create_model()）来加载它。"
        ) from err
    return model


def load_model_safely(path, **kwargs):
    """检查文件后用 ``keras.models.load_model`` 加载整个模型。

    Args:
        path: ``.keras`` 或旧式 ``.h5`` 文件路径。
        **kwargs: 原样传给 ``keras.models.load_model``，如
            ``custom_objects``；``safe_mode`` 保持默认的 True。

    Returns:
        加载得到的 Keras 模型。

    Raises:
        FileNotFoundError: 文件不存在。
        CheckpointError: 文件损坏，或是只含权重的 ``.weights.h5``。
    """
    import keras

    path = os.fspath(path)
    suffix = check_checkpoint_file(path)
    if suffix == ".weights.h5":
        raise CheckpointError(
            f"{path} 只含权重，没有模型结构，无法单独还原出模型。请先"
            "用创建它的代码（如 create_model()）建出模型，再调用 "
            "load_weights_safely(model, path)。"
        )
    return keras.models.load_model(path, **kwargs)


def max_abs_diff(a, b) -> float:
    """两组数组（或两个数组）逐元素之差的最大绝对值。"""
    if isinstance(a, (list, tuple)):
        if len(a) != len(b):
            raise ValueError(f"数组个数不同：{len(a)} 对 {len(b)}。")
        return max(
            (max_abs_diff(x, y) for x, y in zip(a, b, strict=True)),
            default=0.0,
        )
    return float(np.max(np.abs(np.asarray(a) - np.asarray(b)), initial=0.0))


def walk_h5(path) -> list[tuple[str, str]]:
    """列出 HDF5 文件中的全部组与数据集，供阅读检查点的内部结构。

    Returns:
        ``(路径, 描述)`` 的列表；数据集的描述是形状和 dtype，组为 "组"。
    """
    return _walk_h5(path)


def _walk_h5(path):
    import h5py

    rows = []

    def visit(name, obj):
        if isinstance(obj, h5py.Dataset):
            rows.append((name, f"{tuple(obj.shape)} {obj.dtype}"))
        else:
            rows.append((name, "组"))

    with h5py.File(os.fspath(path), "r") as f:
        f.visititems(visit)
    return rows


#: 溯源清单的后缀：``model.keras`` 的清单是 ``model.keras.manifest.json``。
MANIFEST_SUFFIX = ".manifest.json"
#: 加载前逐项核对的字段（按这个顺序，报告第一个不符的）。
VERIFIED_FIELDS = ("file", "size", "sha256", "keras_version")


def sha256_of(path, chunk: int = 1 << 20) -> str:
    """文件内容的 SHA-256（十六进制），分块读取，大文件也不占内存。"""
    import hashlib

    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(chunk), b""):
            digest.update(block)
    return digest.hexdigest()


def _describe_artifact(path):
    # 从文件本身读出可以核对的事实；.keras 里还记着保存时的 Keras 版本
    facts = {
        "file": os.path.basename(path),
        "size": os.path.getsize(path),
        "sha256": sha256_of(path),
    }
    if _suffix(path) == ".keras":
        import json

        with zipfile.ZipFile(path) as zf:
            meta = json.loads(zf.read("metadata.json"))
        facts["keras_version"] = meta["keras_version"]
    return facts


def _first_mismatch(manifest, facts):
    # 清单记录的与文件实际的逐项比较，返回第一个不符的字段
    for field in VERIFIED_FIELDS:
        if field in facts and manifest.get(field) != facts[field]:
            return field, manifest.get(field), facts[field]
    return None


def write_manifest(path, *, data=None, config=None, code_version=None):
    """在模型文件旁写一份溯源清单 ``<文件名>.manifest.json``。

    清单记下文件名、大小、SHA-256、保存它的 Keras/TensorFlow/Python
    版本，以及可选的训练数据指纹、训练配置和代码版本（如 git 提交号）。
    加载前用 :func:`verify_manifest` 核对。

    Args:
        path: 已保存的模型或权重文件。
        data: 可选，训练数据（数组或数组的元组）；记下它的 SHA-256。
        config: 可选，训练配置（能写成 JSON 的字典）。
        code_version: 可选，代码版本的字符串。

    Returns:
        清单的路径。
    """
    import json
    import platform

    import keras

    path = os.fspath(path)
    check_checkpoint_file(path)
    facts = _describe_artifact(path)
    manifest = {
        **facts,
        "keras_version": facts.get("keras_version", keras.__version__),
        "tensorflow_version": _tf_version(),
        "python_version": platform.python_version(),
    }
    if data is not None:
        manifest["data_sha256"] = data_fingerprint(data)
    if config is not None:
        manifest["training_config"] = config
    if code_version is not None:
        manifest["code_version"] = str(code_version)
    target = path + MANIFEST_SUFFIX
    with open(target, "w", encoding="utf-8") as f:
        json.dump(manifest, f, ensure_ascii=False, indent=2, sort_keys=True)
    return target


def _tf_version():
    try:
        import tensorflow as tf
    except ImportError:  # 其他后端：没有 TensorFlow 也能写清单
        return None
    return tf.__version__


def data_fingerprint(data) -> str:
    """一组数组的 SHA-256：形状、dtype 和内容都参与计算。"""
    import hashlib

    arrays = data if isinstance(data, (tuple, list)) else (data,)
    digest = hashlib.sha256()
    for array in arrays:
        array = np.ascontiguousarray(array)
        digest.update(f"{array.shape}{array.dtype.str}".encode())
        digest.update(array.tobytes())
    return digest.hexdigest()


def verify_manifest(path) -> dict:
    """按旁边的溯源清单核对模型文件；不符就拒绝，并指名不符的字段。

    核对文件名、大小、SHA-256，以及（``.keras``）文件里记下的 Keras
    版本。清单本身没有签名：它能发现意外损坏和被替换的文件，但挡不住
    同时改了文件和清单的人；要防后者，清单须另行签名或存放在可信处。

    Returns:
        清单的内容（字典）。

    Raises:
        FileNotFoundError: 文件或清单不存在。
        CheckpointError: 有字段不符，或清单不是合法的 JSON。
    """
    import json

    path = os.fspath(path)
    check_checkpoint_file(path)
    target = path + MANIFEST_SUFFIX
    if not os.path.exists(target):
        raise FileNotFoundError(
            f"{path} 旁边没有溯源清单 {os.path.basename(target)}。请向"
            "提供模型的人要一份清单（dlbook.saving.write_manifest 生成），"
            "不要加载来历不明的文件。"
        )
    try:
        with open(target, encoding="utf-8") as f:
            manifest = json.load(f)
    except json.JSONDecodeError as err:
        raise CheckpointError(
            f"溯源清单 {target} 不是合法的 JSON（{err}）。请重新获取清单。"
        ) from err
    mismatch = _first_mismatch(manifest, _describe_artifact(path))
    if mismatch:
        field, recorded, actual = mismatch
        raise CheckpointError(
            f"{path} 与溯源清单不符：字段 {field} 清单记录为 {recorded!r}，"
            f"文件实际为 {actual!r}。文件在写出清单之后被改动、替换或"
            "损坏了；请不要加载它，向提供者重新获取文件和清单。"
        )
    return manifest
