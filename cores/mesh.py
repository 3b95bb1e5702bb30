"""The old path of ``snn.cores.hardware.mesh``, kept as an alias of the same module.

It moved when cores/ was split into compiler/, engine/ and hardware/; the old path is
documented API (README, docs), so ``from snn.cores.mesh import ...`` keeps working."""

import sys

from snn.cores.hardware import mesh as _module

sys.modules[__name__] = _module
