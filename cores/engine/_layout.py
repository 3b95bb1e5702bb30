"""Named layouts of the packed words and columns the numba kernels share: constants and
accessors inlined into the kernels (numba folds module constants, so they cost nothing).

* Spike ring: ``SLOTS`` delay slots; the spikes due at tick t sit in slot ``ring_slot(t)``
  (delays are below SLOTS, so a slot is free again before it is reused).
* ``npar[c, row, n]`` (int32): rows ``NP_LEAK``, ``NP_THRESHOLD`` and ``NP_FLOOR``
  (-neg_threshold). The narrow cores' int16 copy is in planes, ``npar16[NP_..., r, n]``:
  row ``r = c`` is core c's own, and rows from C on hold shared rows (every neuron the same
  value); core c reads the row ``wb[c, WB_LEAK_ROW + j]`` of plane j, a shared one where
  all its neurons have one value, so that such a core reads no parameter row from memory.
* Route word (fast path, int64 ``rt[c, n]``): target ``core << ash | axon`` (bits 0-31),
  synapses of the target row (32-47), delay (48-51), has-target ``F_TARGET`` (52),
  is-readout ``F_OUT`` (53), reset mode (54-55), mesh hops (56-62) where the spike stays on
  its chip within ``NEAR_HOPS_MAX`` hops; otherwise bit 63 is set (the word is negative)
  and hops come from the cores' positions.
* Row word (fast path, int64 ``rowinfo[c * A + a]``): synapses (bits 0-15, the SOPs a
  spike on the row causes), ``PACKED`` (16), ``INLINE`` (17), packed entries (18-23);
  bits 32-63: a dense row's index in the row table, a packed row's slot, or an inline
  row's neuron (32-47) and signed weight (48-63).
* Axon word (general kernels, int64 ``axinfo[c, a]``): synapses (0-15), axon type
  (16-23), masked weight row + 1 (24-63; 0: a sparse row).
* ``vb[c, col]`` (fast path, int32, a cache line per core): ``VB_WIDE`` (1: the core's
  membrane is in the int32 V, 0: in V16), ``VB_HI`` and ``VB_LO`` (its membrane range).
* ``wb[c, col]`` (``Prepared.wbound``): ``WB_ROW_MAX``, ``WB_ROW_MIN`` (extreme row entry),
  ``WB_LEAK_MAX``, ``WB_LEAK_MIN`` (each at least 0 away from zero), ``WB_NARROW`` (1: the
  core may keep an int16 membrane), ``WB_LEAK_ROW``, ``WB_THRESHOLD_ROW``, ``WB_FLOOR_ROW``
  (the rows of ``npar16``'s planes it reads).
"""

from __future__ import annotations

import numpy as np
from numba import njit

SLOTS = 16
SLOT_MASK = SLOTS - 1

NP_LEAK, NP_THRESHOLD, NP_FLOOR = 0, 1, 2

TG_MASK = np.int64(0xFFFFFFFF)
RT_SYN_SHIFT, RT_DELAY_SHIFT, RT_MODE_SHIFT, RT_HOPS_SHIFT = 32, 48, 54, 56
F_TARGET = np.int64(1) << np.int64(52)
F_OUT = np.int64(1) << np.int64(53)
NEAR_HOPS_MAX = 127  # bits 56-62 of the route word

ROW_SYN_MASK = 0xFFFF
PACKED = np.int64(1 << 16)
INLINE = np.int64(1 << 17)
ROW_ENTRIES_SHIFT, ROW_INDEX_SHIFT, INLINE_WEIGHT_SHIFT = 18, 32, 48

AX_TYPE_SHIFT, AX_ROW_SHIFT = 16, 24

VB_WIDE, VB_HI, VB_LO = 0, 1, 2
WB_ROW_MAX, WB_ROW_MIN, WB_LEAK_MAX, WB_LEAK_MIN, WB_NARROW = 0, 1, 2, 3, 4
WB_LEAK_ROW = 5  # + NP_LEAK, NP_THRESHOLD, NP_FLOOR: WB_LEAK_ROW .. WB_FLOOR_ROW
WB_THRESHOLD_ROW, WB_FLOOR_ROW = WB_LEAK_ROW + NP_THRESHOLD, WB_LEAK_ROW + NP_FLOOR
WB_COLUMNS = 8


@njit(inline="always")
def ring_slot(t):
    """The ring slot of the spikes due at tick t."""
    return t & SLOT_MASK


@njit(inline="always")
def rt_target(w):
    """Route word -> target word core << ash | axon."""
    return w & TG_MASK


@njit(inline="always")
def rt_synapses(w):
    """Route word -> synapses of the target row (the SOPs the spike causes)."""
    return (w >> RT_SYN_SHIFT) & ROW_SYN_MASK


@njit(inline="always")
def rt_delay(w):
    """Route word -> the spike's delay in ticks."""
    return (w >> RT_DELAY_SHIFT) & SLOT_MASK


@njit(inline="always")
def rt_mode(w):
    """Route word -> the neuron's reset mode."""
    return (w >> RT_MODE_SHIFT) & 3


@njit(inline="always")
def rt_near_hops(w):
    """Route word of a spike that stays on its chip (w >= 0) -> its mesh hops."""
    return w >> RT_HOPS_SHIFT


@njit(inline="always")
def row_synapses(info):
    """Row (or route-free input) word -> synapses of the row."""
    return info & ROW_SYN_MASK


@njit(inline="always")
def row_index(info):
    """Row word -> a dense row's table index, or a packed row's slot."""
    return info >> ROW_INDEX_SHIFT


@njit(inline="always")
def row_entries(info):
    """Row word of a packed row -> its nonzero entries."""
    return (info >> ROW_ENTRIES_SHIFT) & 63


@njit(inline="always")
def inline_neuron(info):
    """Row word of an inline row -> its one neuron."""
    return (info >> ROW_INDEX_SHIFT) & 0xFFFF


@njit(inline="always")
def inline_weight(info):
    """Row word of an inline row -> its one (signed) weight."""
    return info >> INLINE_WEIGHT_SHIFT


@njit(inline="always")
def ax_type(info):
    """Axon word -> the axon's type."""
    return (info >> AX_TYPE_SHIFT) & 0xFF


@njit(inline="always")
def ax_row(info):
    """Axon word -> its masked weight row, -1 for a sparse row."""
    return (info >> AX_ROW_SHIFT) - 1
