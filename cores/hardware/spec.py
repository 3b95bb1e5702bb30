"""Core specifications: what one neuromorphic core can hold (docs/design.md §3.1)."""

from __future__ import annotations

from dataclasses import asdict, dataclass

from snn.errors import ConfigError


@dataclass(frozen=True)
class CoreSpec:
    """Size and precision of one core and of the chip that holds it.

    Fields:
        name: preset name (free text for user-defined specs).
        axons: inputs per core (A).
        neurons: neurons per core (N).
        axon_types: number of axon types (weights per neuron).
        weight_min, weight_max: inclusive range of a neuron's signed weight per axon type.
        membrane_bits: signed membrane width; V saturates at [-2^(b-1), 2^(b-1) - 1].
        threshold_max: largest positive threshold a neuron can hold.
        delay_min, delay_max: inclusive range of axonal delays in ticks.
        chip_width, chip_height: cores per chip along x and y.
    """

    name: str = "truenorth"
    axons: int = 256
    neurons: int = 256
    axon_types: int = 4
    weight_min: int = -256
    weight_max: int = 255
    membrane_bits: int = 20
    threshold_max: int = 2**18 - 1
    delay_min: int = 1
    delay_max: int = 15
    chip_width: int = 64
    chip_height: int = 64

    def __post_init__(self) -> None:
        checks = [
            (self.axons >= 1, "axons must be >= 1"),
            (self.neurons >= 1, "neurons must be >= 1"),
            (1 <= self.axon_types <= 4, "axon_types must be 1..4 (int16 weight[N, 4] holds them)"),
            (self.weight_min <= 0 <= self.weight_max, "weight range must contain 0"),
            (-32768 <= self.weight_min and self.weight_max <= 32767, "weights must fit int16"),
            (2 <= self.membrane_bits <= 31, "membrane_bits must be 2..31"),
            (self.threshold_max >= 1, "threshold_max must be >= 1"),
            (1 <= self.delay_min <= self.delay_max <= 15, "delays must lie in 1..15"),
            (self.chip_width >= 1 and self.chip_height >= 1, "chip size must be >= 1x1"),
        ]
        for ok, rule in checks:
            if not ok:
                raise ConfigError(f"CoreSpec {self.name!r}: {rule}")

    @property
    def v_min(self) -> int:
        """Lowest membrane value (saturation)."""
        return -(2 ** (self.membrane_bits - 1))

    @property
    def v_max(self) -> int:
        """Highest membrane value (saturation)."""
        return 2 ** (self.membrane_bits - 1) - 1

    @property
    def cores_per_chip(self) -> int:
        return self.chip_width * self.chip_height

    @property
    def weight_bits(self) -> int:
        """Bits of a signed weight per axon type (9 for TrueNorth)."""
        span = max(self.weight_max + 1, -self.weight_min)
        return int(span - 1).bit_length() + 1

    @classmethod
    def truenorth(cls) -> CoreSpec:
        """IBM TrueNorth: 256x256 cores, 4 axon types, 9-bit weights, 20-bit membrane,
        delays 1..15 ticks, 64x64 cores per chip (Merolla et al., Science 2014)."""
        return cls()

    @classmethod
    def preset(cls, name: str) -> CoreSpec:
        """A named preset: ``truenorth``, ``truenorth-0.75v`` (same core) or ``small``
        (64x64 cores, for tests and design-space exploration)."""
        presets = {
            "truenorth": cls.truenorth,
            "truenorth-0.75v": cls.truenorth,
            "small": lambda: cls(name="small", axons=64, neurons=64, chip_width=8,
                                 chip_height=8),
        }
        if name not in presets:
            raise ConfigError(
                f"unknown core preset {name!r}; choose one of {sorted(presets)} or build "
                "CoreSpec(...) with your own sizes")
        return presets[name]()

    def with_(self, **changes: object) -> CoreSpec:
        """A copy with some fields changed (design-space exploration)."""
        fields = asdict(self)
        fields.update(changes)
        return CoreSpec(**fields)  # type: ignore[arg-type]

    def to_dict(self) -> dict:
        return asdict(self)
