"""The globals a weights-only pickle may import: torch's own ``weights_only=True`` allow-list.

Source: ``torch/_weights_only_unpickler.py``, ``_get_allowed_globals()`` and
``_tensor_rebuild_functions()`` (PyTorch 2.x, the list ``torch.load(..., weights_only=True)``
accepts without ``add_safe_globals``), written out by name here because torch is not installed
and a checkpoint is never unpickled to find out. The dtype, tensor-class and storage-class
entries that torch computes at import (``torch.storage._dtype_to_storage_type_map()``,
``_new_dtypes()``, ``torch._tensor_classes``, ``torch._storage_classes``) are spelled out as
their ``str()`` / ``module.name`` forms. Anything else — including globals a user may allow in
torch with ``add_safe_globals`` — is refused.
"""

from __future__ import annotations

import _compat_pickle

_GENERAL = {
    "collections.OrderedDict",
    "collections.Counter",
    "torch.nn.parameter.Parameter",
    "torch.serialization._get_layout",
    "torch.Size",
    "torch.Tensor",
    "torch.device",
    "_codecs.encode",  # how protocol 2 pickles bytes
    "builtins.bytearray",
    "builtins.set",
    "builtins.complex",
    "torch._tensor._rebuild_from_type_v2",
}
_REBUILD_FUNCTIONS = {  # _tensor_rebuild_functions()
    f"torch._utils.{name}"
    for name in (
        "_rebuild_parameter",
        "_rebuild_parameter_with_state",
        "_rebuild_qtensor",
        "_rebuild_tensor",
        "_rebuild_tensor_v2",
        "_rebuild_tensor_v3",
        "_rebuild_sparse_tensor",
        "_rebuild_meta_tensor_no_storage",
        "_rebuild_wrapper_subclass",
        "_rebuild_device_tensor_from_numpy",
        "_rebuild_device_tensor_from_cpu_tensor",
    )
}
_DTYPE_NAMES = (  # str(dtype) for the storage-type map, _new_dtypes(), uint1..7 and int1..7
    "float64 float32 float16 bfloat16 complex32 complex64 complex128 uint8 int8 int16 "
    "int32 int64 bool qint8 quint8 qint32 quint4x2 quint2x4 "
    "float8_e5m2 float8_e4m3fn float8_e5m2fnuz float8_e4m3fnuz float8_e8m0fnu "
    "float4_e2m1fn_x2 uint16 uint32 uint64 bits8 bits16 bits1x8 bits2x4 bits4x2 "
    "uint1 uint2 uint3 uint4 uint5 uint6 uint7 int1 int2 int3 int4 int5 int6 int7"
)
_DTYPES = {f"torch.{name}" for name in _DTYPE_NAMES.split(" ")}
_DENSE = ("Double", "Float", "BFloat16", "Long", "Int", "Short", "Half", "Char", "Byte", "Bool")
_TENSOR_CLASSES = {f"{mod}.{kind}Tensor" for mod in ("torch", "torch.cuda") for kind in _DENSE}
_STORAGE_CLASSES = {
    f"torch.{kind}Storage"
    for kind in [*_DENSE, "ComplexFloat", "ComplexDouble", "QUInt8", "QInt8", "QInt32"]
    + ["QUInt4x2", "QUInt2x4"]
} | {"torch.storage.TypedStorage", "torch.storage.UntypedStorage"}
_QSCHEMES = {
    "torch.per_tensor_affine",
    "torch.per_tensor_symmetric",
    "torch.per_channel_affine",
    "torch.per_channel_symmetric",
    "torch.per_channel_affine_float_qparams",
}

WEIGHTS_ONLY_GLOBALS: frozenset[str] = frozenset(
    _GENERAL | _REBUILD_FUNCTIONS | _DTYPES | _TENSOR_CLASSES | _STORAGE_CLASSES | _QSCHEMES
)


def canonical_global(module: str, name: str) -> str:
    """``module.name`` as Python 3 (and torch's unpickler) resolves it.

    Protocol 2 pickles written by Python 3 spell Python 2 names (``__builtin__ set``); the
    unpickler maps them back with the standard ``_compat_pickle`` tables, as torch does.
    """
    if (module, name) in _compat_pickle.NAME_MAPPING:
        module, name = _compat_pickle.NAME_MAPPING[(module, name)]
    elif module in _compat_pickle.IMPORT_MAPPING:
        module = _compat_pickle.IMPORT_MAPPING[module]
    return f"{module}.{name}"


def is_weights_only(module: str, name: str) -> bool:
    """Would ``torch.load(weights_only=True)`` accept this global without extra allowances?"""
    return canonical_global(module, name) in WEIGHTS_ONLY_GLOBALS
