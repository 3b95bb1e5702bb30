"""Atomics for numba kernels that share work between threads inside one parallel region.

``atomic_add(a, i, v)`` returns the old ``a[i]``, ``atomic_load(a, i)`` and
``atomic_store(a, i, v)`` read and write ``a[i]`` (int64 arrays), all sequentially
consistent: the writes a thread made before an atomic are seen by a thread that reads the
value it left. A waiting thread calls ``cpu_relax()`` now and then in its spin loop (x86
``pause``: the spinning thread leaves the core's resources to a sibling hardware thread;
not every spin: see ``_fastpath.RELAX_EVERY``) and, after a while, ``yield_cpu()``
(sched_yield) to give the CPU away.
"""

from __future__ import annotations

import platform

from llvmlite import ir
from numba import types as nbtypes
from numba.core import cgutils
from numba.extending import intrinsic

from snn.cores.engine._llvm import item_pointer

_SEQ = "seq_cst"
_X86 = platform.machine().lower() in ("x86_64", "amd64", "i686", "x86")


@intrinsic
def atomic_add(typingctx, arr, i, v):
    """Add v to arr[i] (int64 1-d) atomically; the old value."""
    sig = nbtypes.int64(arr, i, v)

    def codegen(context, builder, signature, args):
        ptr = item_pointer(context, builder, signature.args[0], args[0], [args[1]])
        val = context.cast(builder, args[2], signature.args[2], nbtypes.int64)
        return builder.atomic_rmw("add", ptr, val, _SEQ)
    return sig, codegen


@intrinsic
def atomic_load(typingctx, arr, i):
    """arr[i] (int64 1-d), read atomically."""
    sig = nbtypes.int64(arr, i)

    def codegen(context, builder, signature, args):
        ptr = item_pointer(context, builder, signature.args[0], args[0], [args[1]])
        return builder.load_atomic(ptr, _SEQ, 8)
    return sig, codegen


@intrinsic
def atomic_store(typingctx, arr, i, v):
    """arr[i] = v (int64 1-d), written atomically."""
    sig = nbtypes.void(arr, i, v)

    def codegen(context, builder, signature, args):
        ptr = item_pointer(context, builder, signature.args[0], args[0], [args[1]])
        val = context.cast(builder, args[2], signature.args[2], nbtypes.int64)
        builder.store_atomic(val, ptr, _SEQ, 8)
        return context.get_dummy_value()
    return sig, codegen


def _call_no_args(builder, symbol, ret):
    """Call the argument-less function ``symbol`` (a C function or an LLVM intrinsic)."""
    fn = cgutils.get_or_insert_function(builder.module, ir.FunctionType(ret, []), symbol)
    builder.call(fn, [])


@intrinsic
def yield_cpu(typingctx):
    """sched_yield(): let another thread run while this one waits."""
    def codegen(context, builder, signature, args):
        _call_no_args(builder, "sched_yield", ir.IntType(32))
        return context.get_dummy_value()
    return nbtypes.void(), codegen


@intrinsic
def cpu_relax(typingctx):
    """A spin-wait hint: x86 ``pause``, nothing elsewhere."""
    def codegen(context, builder, signature, args):
        if _X86:
            _call_no_args(builder, "llvm.x86.sse2.pause", ir.VoidType())
        return context.get_dummy_value()
    return nbtypes.void(), codegen
