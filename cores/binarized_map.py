"""The old path of ``snn.cores.compiler.binarized_map``, kept as an alias of the same module.

It moved when cores/ was split into compiler/, engine/ and hardware/; the old path is
documented API (README, docs), so ``from snn.cores.binarized_map import ...`` keeps working."""

import sys

from snn.cores.compiler import binarized_map as _module

sys.modules[__name__] = _module
