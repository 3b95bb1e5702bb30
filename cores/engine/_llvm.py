"""LLVM intrinsics the numba kernels use, in one place: the element pointer every
intrinsic starts from, a cache-line prefetch, count-trailing-zeros and a 64-byte vector
compare to a bit mask. (Atomics and spin hints: ``_sync``; the narrow pass: ``_narrow``.)"""

from __future__ import annotations

import llvmlite.binding as llvm
from llvmlite import ir
from numba import types as nbtypes
from numba.core import cgutils, config
from numba.extending import intrinsic


def cpu_features() -> set[str]:
    """The CPU features numba compiles for: the host's, or those of ``NUMBA_CPU_NAME`` /
    ``NUMBA_CPU_FEATURES`` where set (a named CPU without a feature list: none assumed)."""
    if config.CPU_NAME and config.CPU_NAME != "host":
        return {f[1:] for f in (config.CPU_FEATURES or "").split(",") if f.startswith("+")}
    return {name for name, on in llvm.get_host_cpu_features().items() if on}


def item_pointer(context, builder, aryty, ary, index):
    """LLVM pointer to ary[index..., 0, ...] (index: the leading indices, LLVM values; the
    remaining ones 0), without negative-index wrap-around."""
    arr = context.make_array(aryty)(context, builder, ary)
    zeros = [context.get_constant(nbtypes.intp, 0)] * (aryty.ndim - len(index))
    return cgutils.get_item_pointer(context, builder, aryty, arr, list(index) + zeros,
                                    wraparound=False)


def _prefetch_to(locality: int, doc: str):
    """An intrinsic (arr, i, j) that hints the CPU to load the cache line of arr[i, j]
    (LLVM's prefetch: read, the given locality: 3 keeps it in L1, 2 in L2)."""

    def prefetch_line(typingctx, arr, i, j):
        sig = nbtypes.void(arr, i, j)

        def codegen(context, builder, signature, args):
            ptr = item_pointer(context, builder, signature.args[0], args[0], args[1:])
            i8p = ir.IntType(8).as_pointer()
            i32 = ir.IntType(32)
            fnty = ir.FunctionType(ir.VoidType(), [i8p, i32, i32, i32])
            fn = cgutils.get_or_insert_function(builder.module, fnty, "llvm.prefetch")
            builder.call(fn, [builder.bitcast(ptr, i8p), ir.Constant(i32, 0),
                              ir.Constant(i32, locality), ir.Constant(i32, 1)])
            return context.get_dummy_value()
        return sig, codegen
    prefetch_line.__doc__ = doc
    return intrinsic(prefetch_line)


prefetch = _prefetch_to(3, "Hint the CPU to load the cache line of arr[i, j] into L1.")
# weight rows: L1 as the target stalled the prefetches themselves on L1's miss buffers
prefetch_l2 = _prefetch_to(2, "Hint the CPU to load the cache line of arr[i, j] into L2.")


@intrinsic
def cttz(typingctx, x):
    """Number of trailing zero bits of the uint64 x (LLVM's cttz; x != 0)."""
    sig = nbtypes.uint64(nbtypes.uint64)

    def codegen(context, builder, signature, args):
        i64 = ir.IntType(64)
        fnty = ir.FunctionType(i64, [i64, ir.IntType(1)])
        fn = cgutils.get_or_insert_function(builder.module, fnty, "llvm.cttz.i64")
        return builder.call(fn, [args[0], ir.Constant(ir.IntType(1), 1)])
    return sig, codegen


@intrinsic
def nonzero_mask64(typingctx, arr, i, j):
    """Bit k (k < 64) set iff the byte arr[i, j + k] of the uint8 array is nonzero: one
    vector compare (LLVM lowers the <64 x i1> bitcast to movemask where the CPU has it).
    The caller makes sure that the 64 bytes lie inside the row."""
    sig = nbtypes.uint64(arr, i, j)

    def codegen(context, builder, signature, args):
        ptr = item_pointer(context, builder, signature.args[0], args[0], args[1:])
        vty = ir.VectorType(ir.IntType(8), 64)
        vec = builder.load(builder.bitcast(ptr, vty.as_pointer()), align=1)
        ne = builder.icmp_unsigned("!=", vec, ir.Constant(vty, None))
        return builder.bitcast(ne, ir.IntType(64))
    return sig, codegen
