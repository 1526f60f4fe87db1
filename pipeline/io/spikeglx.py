"""A lab's own FPGA wiring: the ``*.wiring.json`` file SpikeGLX rigs keep beside their files.

IBL's format (ibl-neuropixel's ``spikeglx.get_sync_map``)::

    {"SYSTEM": "3B",
     "SYNC_WIRING_DIGITAL": {"P0.0": "left_camera", "P0.1": "right_camera", "P0.7": "audio"},
     "SYNC_WIRING_ANALOG": {"AI0": "bpod"}}

Digital pins map to sync channels by the system's pin-out (3B: ``P0.<k>`` is channel ``k``; 3A:
``pin01``..``pin24`` with gaps, as ``neuropixel.SYNC_PIN_OUT``); analog input ``AI<k>`` is channel
``16 + k``. A file that names only some signals fills the rest from the session's default map,
as ibllib does (``get_ibl_sync_map``).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

#: ``neuropixel.SYNC_PIN_OUT``: digital pin name to sync channel (None: not a sync pin).
SYNC_PIN_OUT: dict[str, dict[str, int | None]] = {
    "3A": {
        f"pin{i:02d}": ch
        for i, ch in zip(range(1, 25), [0, 1, 2, 3, None, 4, 5, 6, 7, None, 8, 9, 10, 11, None, 12, 13, 14, 15] + [None] * 5, strict=True)
    },
    "3B": {f"P0.{k}": k for k in range(8)},
}
WIRING_GLOB = "*.wiring.json"


@dataclass(frozen=True)
class Wiring:
    """An FPGA channel map and where it came from.

    Attributes
    ----------
    channels : dict of str to int
        Signal name (``left_camera``, ``bpod``, ``audio``, ...) to sync channel.
    source : str
        The default map's name, and the wiring file that overrode it if any
        (``"3B + raw_ephys_data/x.nidq.wiring.json"``).
    """

    channels: dict[str, int]
    source: str

    def channel(self, signal: str) -> int:
        """The sync channel of ``signal``; KeyError naming the map's source if it has none."""
        if signal not in self.channels:
            raise KeyError(f"wiring {self.source} has no channel for {signal!r} (it has {', '.join(sorted(self.channels))})")
        return self.channels[signal]


def read_wiring_file(path: Path | str) -> dict[str, int]:
    """Signal-to-channel map of one ``*.wiring.json``.

    Raises
    ------
    ValueError
        Not JSON, an unknown ``SYSTEM``, an unknown pin or analog input: the message names the
        file and the key.
    """
    path = Path(path)
    try:
        config = json.loads(path.read_text())
    except ValueError as exc:
        raise ValueError(f"{path}: not valid JSON: {exc}") from None
    system = config.get("SYSTEM") if isinstance(config, dict) else None
    if system not in SYNC_PIN_OUT:
        raise ValueError(f"{path}: SYSTEM is {system!r}; known: {', '.join(SYNC_PIN_OUT)}")
    pin_out = SYNC_PIN_OUT[system]
    out: dict[str, int] = {}
    for pin, signal in (config.get("SYNC_WIRING_DIGITAL") or {}).items():
        if pin not in pin_out:
            raise ValueError(f"{path}: SYNC_WIRING_DIGITAL pin {pin!r} is not a {system} pin ({', '.join(pin_out)})")
        if pin_out[pin] is not None:
            out[str(signal)] = int(pin_out[pin])
    for pin, signal in (config.get("SYNC_WIRING_ANALOG") or {}).items():
        if not (isinstance(pin, str) and pin.startswith("AI") and pin[2:].isdigit()):
            raise ValueError(f"{path}: SYNC_WIRING_ANALOG input {pin!r} is not AI<number>")
        out[str(signal)] = 16 + int(pin[2:])
    return out


def write_wiring_file(path: Path | str, system: str, channels: Mapping[str, int]) -> Path:
    """Write ``channels`` (signal to sync channel) as a ``*.wiring.json`` of ``system``."""
    path = Path(path)
    pin_of = {ch: pin for pin, ch in SYNC_PIN_OUT[system].items() if ch is not None}
    digital = {pin_of[ch]: sig for sig, ch in channels.items() if ch in pin_of}
    analog = {f"AI{ch - 16}": sig for sig, ch in channels.items() if ch not in pin_of and ch >= 16}
    missing = sorted(set(channels) - set(digital.values()) - set(analog.values()))
    if missing:
        raise ValueError(f"{system} has no pin for {missing}")
    path.write_text(json.dumps({"SYSTEM": system, "SYNC_WIRING_DIGITAL": digital, "SYNC_WIRING_ANALOG": analog}, indent=1))
    return path


def session_wiring(ephys_dir: Path, default_name: str, default: Mapping[str, int], *, relative_to: Path | None = None) -> Wiring:
    """The FPGA map of a session: ``default`` overridden by a ``*.wiring.json`` in ``ephys_dir``.

    Raises
    ------
    ValueError
        Two wiring files in the folder (which one holds is not ours to guess), or a bad file.
    """
    files = sorted(Path(ephys_dir).glob(WIRING_GLOB)) if Path(ephys_dir).is_dir() else []
    if len(files) > 1:
        raise ValueError(f"{ephys_dir} has {len(files)} wiring files ({', '.join(f.name for f in files)}): keep one")
    channels = dict(default)
    source = default_name
    if files:
        channels.update(read_wiring_file(files[0]))
        shown = files[0].relative_to(relative_to) if relative_to is not None else files[0]
        source = f"{default_name} + {shown}"
    return Wiring(channels=channels, source=source)
