"""The neuron pass of a narrow core (int16 membrane) as explicit 16-lane vector code.

numba gives LLVM no aliasing facts about arrays, so a vectorised numba loop that stores
into two arrays starts with run-time overlap checks of every array it touches (~160
instructions per core on the 16-core benchmark network, as much as ten 16-neuron blocks of
the pass). Written as vector IR the pass needs none, and it leaves the firing neurons as a
bit mask (one bit per neuron) instead of a flag byte each.

Editing this file does not invalidate the cached kernels that inline it: numba's on-disk
cache checks only the stamp of the file that defines a cached function (``_fastpath.py``),
so delete ``cores/engine/__pycache__/*.nbi`` and ``*.nbc`` after changing it (a fresh clone is
unaffected).
"""

from __future__ import annotations

from llvmlite import ir
from numba import types as nbtypes
from numba.core import cgutils
from numba.extending import intrinsic

from snn.cores.engine._layout import WB_LEAK_ROW
from snn.cores.engine._llvm import cpu_features, item_pointer

LANES = 16  # int16 lanes per vector (AVX2: one register)


def _vload(builder, base, offset, width):
    """<LANES x i16> from LANES elements of base (i8 or i16 pointer) at offset, sign-extended."""
    elem = ir.IntType(width)
    vty = ir.VectorType(elem, LANES)
    vec = builder.load(builder.bitcast(builder.gep(base, [offset]), vty.as_pointer()), align=1)
    return vec if width == 16 else builder.sext(vec, ir.VectorType(ir.IntType(16), LANES))


def _splat(builder, value, vty):
    """A vector of vty (LANES lanes) with every lane value (of vty's element type)."""
    vec = ir.Constant(vty, ir.Undefined)
    vec = builder.insert_element(vec, value, ir.Constant(ir.IntType(32), 0))
    return builder.shuffle_vector(vec, vec, ir.Constant(ir.VectorType(ir.IntType(32), LANES),
                                                        None))


def _reduce(builder, op, vec):
    """Signed max or min (op "smax" or "smin") of the lanes of an <LANES x i16> vector."""
    i16 = ir.IntType(16)
    fnty = ir.FunctionType(i16, [vec.type])
    fn = cgutils.get_or_insert_function(builder.module, fnty,
                                        f"llvm.vector.reduce.{op}.v{LANES}i16")
    return builder.call(fn, [vec])


MAX_ROWS = 8  # weight rows the pass adds itself (the caller adds any beyond, 4 at a time)
# the pass writes the fired list itself where the CPU compresses 16-bit lanes in a register
# (AVX-512 VBMI2, vpcompressw): per block, the indices of the firing lanes, packed, then
# one store; elsewhere it leaves fire bits for a cttz loop (LLVM's generic compress would
# be scalar code there)
COMPRESS = {"avx512vbmi2", "avx512vl"} <= cpu_features()
FIRED_PAD = LANES  # entries after a core's fired list that the pass's last store may write


@intrinsic
def narrow_pass(typingctx, V16, npar16, wb, mrow, c, srt, p, e, k, hi, fmask, fired, sub):
    """The pass of narrow core c: V16[c] += leak + its k (<= MAX_ROWS) weight rows, clamped
    to hi, floored, threshold test; where sub is true (the core resets by subtraction),
    the firing neurons' thresholds are subtracted before the store (thresholds are >= 1,
    so the result is >= 0 and no floor can bind). With COMPRESS the firing neurons go to
    fired[c] in order (uint16 [C, N + FIRED_PAD]) and the pass returns (their number, the
    largest membrane, the smallest membrane, both after the reset where sub); otherwise
    their bits go to fmask[p] (bit n of the row read as little-endian words), every
    LANES-neuron block's 16 bits written, and the first value returned is whether some
    neuron fired.

    The rows are those the sorted entries srt[p, e:e + k] name (row indices of mrow); one
    loop for each k (no zero rows added). V16 int16 [C, N]; npar16 int16 [3, R, N], the
    planes of leak, threshold and floor, core c's rows in them wb[c, WB_LEAK_ROW + j]
    (wb int32 [C, WB_COLUMNS], see ``_layout``); mrow int8 or int16 [R, N], fmask uint64
    [P, >= N / 64]; N a multiple of LANES; the caller has checked that no sum leaves int16 (so the
    lanes' int16 sums are exact)."""
    width = mrow.dtype.bitwidth
    sig = nbtypes.UniTuple(nbtypes.int64, 3)(V16, npar16, wb, mrow, c, srt, p, e, k, hi,
                                             fmask, fired, sub)

    def codegen(context, builder, signature, args):
        tys = signature.args
        V16_, npar_, wb_, mrow_, c_, srt_, p_, e_, k_, hi_, fmask_, fired_, sub_ = args
        wb_ty = tys[2]
        tys = tys[:2] + tys[3:]  # the other arguments' types, in order
        i16 = ir.IntType(16)
        i64 = ir.IntType(64)
        vty = ir.VectorType(i16, LANES)
        intp = context.get_value_type(nbtypes.intp)
        v_row = item_pointer(context, builder, tys[0], V16_, [c_])
        par = []
        for j in range(3):
            col = context.get_constant(nbtypes.intp, WB_LEAK_ROW + j)
            row = builder.load(item_pointer(context, builder, wb_ty, wb_, [c_, col]))
            par.append(item_pointer(context, builder, tys[1], npar_,
                                    [context.get_constant(nbtypes.intp, j),
                                     builder.sext(row, intp)]))
        masks = builder.bitcast(item_pointer(context, builder, tys[9], fmask_, [p_]),
                                i16.as_pointer())
        n = cgutils.unpack_tuple(builder, context.make_array(tys[0])(
            context, builder, V16_).shape)[1]
        blocks = builder.lshr(n, ir.Constant(intp, LANES.bit_length() - 1))
        top = _splat(builder, builder.trunc(hi_, i16), vty)
        subtract = _splat(builder, builder.icmp_unsigned("!=", sub_, ir.Constant(sub_.type, 0)),
                          ir.VectorType(ir.IntType(1), LANES))
        vmax = cgutils.alloca_once_value(builder, ir.Constant(vty, [-32768] * LANES))
        vmin = cgutils.alloca_once_value(builder, ir.Constant(vty, [32767] * LANES))
        fired = cgutils.alloca_once_value(builder, ir.Constant(i16, 0))
        if COMPRESS:  # the fired list's end, where it starts, and the intrinsics writing it
            nf = cgutils.alloca_once_value(builder, ir.Constant(i64, 0))
            out = builder.bitcast(item_pointer(context, builder, tys[10], fired_, [c_]),
                                  i16.as_pointer())
            lanes = ir.Constant(vty, list(range(LANES)))
            compress = cgutils.get_or_insert_function(
                builder.module, ir.FunctionType(vty, [vty, ir.VectorType(ir.IntType(1), LANES),
                                                      vty]),
                f"llvm.experimental.vector.compress.v{LANES}i16")
            popcount = cgutils.get_or_insert_function(
                builder.module, ir.FunctionType(i16, [i16]), "llvm.ctpop.i16")

        def row_pointer(i):
            """Pointer to the weight row of sorted entry e + i."""
            entry = builder.load(item_pointer(context, builder, tys[4], srt_,
                                              [p_, builder.add(e_, ir.Constant(intp, i))]))
            return item_pointer(context, builder, tys[2], mrow_, [builder.sext(entry, intp)])

        def loop_with(rows):
            with cgutils.for_range(builder, blocks) as loop:
                off = builder.mul(loop.index, ir.Constant(intp, LANES))
                v = builder.add(_vload(builder, v_row, off, 16),
                                _vload(builder, par[0], off, 16))
                for row in rows:
                    v = builder.add(v, _vload(builder, row, off, width))
                v = builder.select(builder.icmp_signed("<", v, top), v, top)
                floor = _vload(builder, par[2], off, 16)
                v = builder.select(builder.icmp_signed(">", v, floor), v, floor)
                thr = _vload(builder, par[1], off, 16)
                ge = builder.icmp_signed(">=", v, thr)
                bits = builder.bitcast(ge, i16)
                v = builder.select(builder.and_(ge, subtract), builder.sub(v, thr), v)
                builder.store(v, builder.bitcast(builder.gep(v_row, [off]), vty.as_pointer()),
                              align=1)
                if COMPRESS:  # the firing lanes' neuron indices, packed, at fired[c, nf]
                    idx = builder.add(_splat(builder, builder.trunc(off, i16), vty), lanes)
                    packed = builder.call(compress, [idx, ge, ir.Constant(vty, None)])
                    at = builder.load(nf)
                    builder.store(packed, builder.bitcast(builder.gep(out, [at]),
                                                          vty.as_pointer()), align=1)
                    builder.store(builder.add(at, builder.zext(builder.call(popcount, [bits]),
                                                               i64)), nf)
                else:
                    builder.store(bits, builder.gep(masks, [loop.index]), align=1)
                    builder.store(builder.or_(builder.load(fired), bits), fired)
                old = builder.load(vmax)
                builder.store(builder.select(builder.icmp_signed(">", v, old), v, old), vmax)
                old = builder.load(vmin)
                builder.store(builder.select(builder.icmp_signed("<", v, old), v, old), vmin)

        fn = builder.function
        done = fn.append_basic_block("narrow_pass.done")
        most = fn.append_basic_block(f"narrow_pass.k{MAX_ROWS}")
        switch = builder.switch(k_, most)
        for kk in range(MAX_ROWS + 1):
            block = most if kk == MAX_ROWS else fn.append_basic_block(f"narrow_pass.k{kk}")
            if kk < MAX_ROWS:
                switch.add_case(ir.Constant(k_.type, kk), block)
            builder.position_at_end(block)
            loop_with([row_pointer(i) for i in range(kk)])
            builder.branch(done)
        builder.position_at_end(done)
        anyf = builder.load(nf) if COMPRESS else builder.zext(
            builder.icmp_unsigned("!=", builder.load(fired), ir.Constant(i16, 0)), i64)
        hi_v = builder.sext(_reduce(builder, "smax", builder.load(vmax)), i64)
        lo_v = builder.sext(_reduce(builder, "smin", builder.load(vmin)), i64)
        return context.make_tuple(builder, signature.return_type, [anyf, hi_v, lo_v])
    return sig, codegen
