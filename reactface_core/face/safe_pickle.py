"""Load licensed face-model files (FLAME `.pkl`, FaceVerse `.npy`) without running their code.

A pickle can call any importable function while it loads, so `pickle.load` on a file from
the internet runs whatever its author wanted. These model files only need numpy arrays,
scipy sparse matrices and, for FLAME, chumpy arrays; `RestrictedUnpickler` resolves exactly
those names and refuses every other global (`os.system`, `builtins.eval`, ...) before it
can be called. chumpy itself is not needed: its `Ch` objects become `ChumpyArray`, a tiny
stand-in that keeps the array from the object's pickled state (`x`).
"""

from __future__ import annotations

import codecs
import copyreg
import pickle
from pathlib import Path

import numpy as np


class ChumpyArray:
    """Stand-in for `chumpy.ch.Ch` (and other chumpy nodes): keeps only the value `x`."""

    x = None

    def __setstate__(self, state) -> None:
        if isinstance(state, tuple) and len(state) == 2:  # (dict state, slot state)
            state = state[0] or {}
        if isinstance(state, dict):
            value = state.get("x", state.get("_x"))
            self.x = None if value is None else np.asarray(value)

    def __array__(self, dtype=None, copy=None):
        if self.x is None:
            raise ValueError("a chumpy object in this file carries no array value ('x')")
        return self.x if dtype is None else self.x.astype(dtype)


def _sparse(name: str):
    import scipy.sparse

    return getattr(scipy.sparse, name)


# module -> allowed names; a value of None for a module means "every name maps to ChumpyArray".
_NUMPY = {
    ("numpy", "ndarray"): lambda: np.ndarray,
    ("numpy", "dtype"): lambda: np.dtype,
    ("numpy.core.multiarray", "_reconstruct"): lambda: np.core.multiarray._reconstruct,
    ("numpy._core.multiarray", "_reconstruct"): lambda: np.core.multiarray._reconstruct,
    ("numpy.core.multiarray", "scalar"): lambda: np.core.multiarray.scalar,
    ("numpy._core.multiarray", "scalar"): lambda: np.core.multiarray.scalar,
    ("numpy.core.numeric", "_frombuffer"): lambda: np.core.numeric._frombuffer,
    ("numpy._core.numeric", "_frombuffer"): lambda: np.core.numeric._frombuffer,
    ("copy_reg", "_reconstructor"): lambda: copyreg._reconstructor,
    ("copyreg", "_reconstructor"): lambda: copyreg._reconstructor,
    ("_codecs", "encode"): lambda: codecs.encode,  # how protocol-2 pickles spell bytes
    ("__builtin__", "object"): lambda: object,
    ("__builtin__", "set"): lambda: set,  # chumpy keeps sets of names in its state
    ("builtins", "set"): lambda: set,
    ("__builtin__", "frozenset"): lambda: frozenset,
    ("builtins", "frozenset"): lambda: frozenset,
    ("builtins", "object"): lambda: object,
}
_SPARSE_MODULES = {
    "scipy.sparse.csc": "csc_matrix",
    "scipy.sparse._csc": "csc_matrix",
    "scipy.sparse.csr": "csr_matrix",
    "scipy.sparse._csr": "csr_matrix",
    "scipy.sparse.coo": "coo_matrix",
    "scipy.sparse._coo": "coo_matrix",
}


class RestrictedUnpickler(pickle.Unpickler):
    """Resolves only numpy, scipy.sparse and chumpy names; anything else is refused."""

    def __init__(self, file, source: str = "pickle"):
        super().__init__(file, encoding="latin1")  # FLAME files were written by Python 2
        self.source = source

    def find_class(self, module: str, name: str):
        if (module, name) in _NUMPY:
            return _NUMPY[(module, name)]()
        if _SPARSE_MODULES.get(module) == name:
            return _sparse(name)
        if module == "chumpy" or module.startswith("chumpy."):
            return ChumpyArray
        raise pickle.UnpicklingError(
            f"{self.source}: refusing to load {module}.{name}; a face-model file may only "
            "contain numpy arrays, scipy sparse matrices and chumpy arrays"
        )


def load_pickle(path: str | Path):
    """Unpickle a model file with `RestrictedUnpickler`; errors name the file."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"face-model file not found: {path}")
    with open(path, "rb") as handle:
        return RestrictedUnpickler(handle, str(path)).load()


def load_npy_object(path: str | Path):
    """Read a `.npy` holding a pickled object (e.g. FaceVerse's dict) without `allow_pickle`.

    The header is parsed by numpy; the payload goes through `RestrictedUnpickler`.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"face-model file not found: {path}")
    with open(path, "rb") as handle:
        version = np.lib.format.read_magic(handle)
        if version == (1, 0):
            shape, _, dtype = np.lib.format.read_array_header_1_0(handle)
        elif version == (2, 0):
            shape, _, dtype = np.lib.format.read_array_header_2_0(handle)
        else:
            raise ValueError(f"{path}: unsupported .npy format version {version}")
        if dtype.hasobject:
            array = RestrictedUnpickler(handle, str(path)).load()
        else:
            count = int(np.prod(shape)) if shape else 1
            array = np.frombuffer(handle.read(count * dtype.itemsize), dtype).reshape(shape)
    array = np.asarray(array)
    return array.item() if array.shape == () and array.dtype.hasobject else array
