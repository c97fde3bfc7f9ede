"""Binary-coded decimal, as Atari games keep their scores and clocks: one decimal digit per nibble."""


def from_bcd(byte: int) -> int:
    """The two-digit number a BCD byte holds (0x42 → 42)."""
    return (byte >> 4) * 10 + (byte & 15)


def to_bcd(value: int) -> int:
    """The BCD byte holding ``value`` (0..99)."""
    return (value // 10) << 4 | value % 10
