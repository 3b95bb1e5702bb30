"""snn.cores.hardware: the model of the chip a core program runs on.

``spec`` (a core's sizes and integer ranges, ``CoreSpec``), ``mesh`` (cores on a 2-D mesh of
chips: routes, hops, link load), ``placement`` (which core goes where on the mesh) and
``energy`` (energy models and accountings over the engine's counters, docs/energy.md).
"""
