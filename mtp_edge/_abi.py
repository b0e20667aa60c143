"""The one libllama in the process: llama-cpp-python's, checked against the version we were built for."""

from __future__ import annotations

import ctypes
from importlib import metadata

# The C declarations in cpp_ext/llama_api.h follow the llama.h that this release vendors.
LLAMA_CPP_PYTHON_VERSION = "0.3.36"


def check_llama_cpp_version() -> None:
    """Raise ImportError with the fix if the installed llama-cpp-python is not the pinned version."""
    try:
        installed = metadata.version("llama-cpp-python")
    except metadata.PackageNotFoundError as exc:
        raise ImportError(
            "mtp-edge needs llama-cpp-python, which is not installed: "
            f"pip install llama-cpp-python=={LLAMA_CPP_PYTHON_VERSION}"
        ) from exc
    if installed != LLAMA_CPP_PYTHON_VERSION:
        raise ImportError(
            f"mtp-edge was built for llama-cpp-python {LLAMA_CPP_PYTHON_VERSION} (its C ABI), but "
            f"{installed} is installed: pip install llama-cpp-python=={LLAMA_CPP_PYTHON_VERSION} "
            "(with your CMAKE_ARGS for CUDA or Metal), or reinstall mtp-edge against the new version."
        )


def libllama_handle() -> int:
    """The dlopen handle of the libllama that llama-cpp-python loaded (the extension dlsyms into it)."""
    check_llama_cpp_version()
    from llama_cpp import llama_cpp as _lib_module

    return int(_lib_module._lib._handle)


def context_pointer(llama) -> int:
    """The llama_context* of a llama_cpp.Llama, as an integer address."""
    ptr = llama._ctx.ctx
    address = ctypes.cast(ptr, ctypes.c_void_p).value
    if not address:
        raise RuntimeError("the llama.cpp context is closed")
    return int(address)
