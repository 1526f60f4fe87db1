"""What a video container says about itself, to catch truncated or damaged files cheaply.

A raw video cut short (an interrupted copy, a full disk) may still decode without error up
to the cut, so decoding alone cannot prove it is whole. The container's header, written
when the file was closed, records how long it should be: AVI stores the frame count of each
stream (``strh.dwLength``; also correct for OpenDML files over 1 GB), Matroska and MP4
store a duration. :func:`probe_container` reads both the header's claim and the packets
actually present (one demux pass, no decoding), so a caller can refuse a file whose header
and content disagree.
"""

from __future__ import annotations

import re
import struct
from dataclasses import dataclass
from pathlib import Path

from pipeline.io.ffmpeg import FFmpegError, run_ffmpeg_output

__all__ = ["PACKET_DIGEST_OPTIONS", "ContainerInfo", "avi_header_frames", "packet_digest", "probe_container", "streamhash_digest"]


@dataclass(frozen=True)
class ContainerInfo:
    """A video file's first video stream, from one demux pass (no frames decoded).

    Attributes
    ----------
    n_packets : int
        Video packets present in the file (one per frame for FFV1 and h.264).
    fps : float
        Nominal frame rate, frames per second (NaN if the container gives none).
    width, height : int
        Frame size in pixels.
    codec : str
        Codec name as ffmpeg reports it (``ffv1``, ``h264``, ...).
    header_frames : int or None
        Frame count the container's header claims: AVI's stream length, or the header's
        duration times ``fps`` rounded to frames for other containers. None when the header
        has none (e.g. a file whose writer never closed it).
    header_tolerance : int
        How many frames ``header_frames`` may differ from ``n_packets`` by rounding alone:
        0 for AVI (exact count), otherwise the rounding of the duration (10 ms in ffmpeg's
        summary line, 1 ns in a Matroska ``DURATION`` tag) plus one frame.
    packet_digest : str or None
        Hexadecimal SHA-256 of the stream's packets (:data:`PACKET_DIGEST_OPTIONS`), when
        asked for (``probe_container(..., digest=True)``), else None.
    """

    n_packets: int
    fps: float
    width: int
    height: int
    codec: str
    header_frames: int | None
    header_tolerance: int
    packet_digest: str | None = None

    @property
    def truncated(self) -> bool:
        """True when the header claims more (or fewer) frames than the file holds."""
        if self.header_frames is None:
            return False
        return abs(self.header_frames - self.n_packets) > self.header_tolerance


#: ffmpeg output options (ffmpeg-python keyword form) that digest a video stream's packets:
#: SHA-256 over every packet's bytes in order, with the stream's decoder configuration
#: (extradata, e.g. h.264's SPS/PPS) prepended to each keyframe by the ``dump_extra``
#: bitstream filter. Timestamps and the container's own framing are not included, so the
#: same packets stored in MP4 and in Matroska (which both frame h.264 the same way,
#: length-prefixed with an ``avcC`` configuration) give the same digest.
PACKET_DIGEST_OPTIONS: dict[str, str] = {"c": "copy", "bsf:v": "dump_extra", "format": "streamhash", "hash": "sha256"}


_DIGEST_ARGS = [a for k, v in PACKET_DIGEST_OPTIONS.items() for a in ("-f" if k == "format" else f"-{k}", v)]


_STREAM_RE = re.compile(r"Stream #0:(\d+).*?: Video: (\w+).*?, (\d{2,5})x(\d{2,5})")
_FPS_RE = re.compile(r"([\d.]+) (?:fps|tbr)")
_DURATION_RE = re.compile(r"Duration: (\d+):(\d{2}):(\d{2}(?:\.\d+)?)")
_TAG_DURATION_RE = re.compile(r"^\s*DURATION\s*: (\d+):(\d{2}):(\d{2}(?:\.\d+)?)", re.MULTILINE)
_FRAME_RE = re.compile(r"frame=\s*(\d+)")


def _seconds(match: re.Match) -> float:
    return int(match.group(1)) * 3600 + int(match.group(2)) * 60 + float(match.group(3))


def avi_header_frames(path: Path | str) -> int | None:
    """Frame count of the first video stream in an AVI file's header (``strh.dwLength``).

    ffmpeg's AVI writer updates this count when it closes the file, for every RIFF chunk
    of an OpenDML file too, so it is the number of frames the writer wrote.

    Parameters
    ----------
    path : path
        An AVI file (``RIFF....AVI `` signature).

    Returns
    -------
    int or None
        The count, or None if the file is not AVI, the header is unreadable, or the count
        is 0 (a writer that never closed the file leaves 0).
    """
    with open(path, "rb") as f:
        head = f.read(65536)
    if len(head) < 12 or head[:4] != b"RIFF" or head[8:12] != b"AVI ":
        return None
    pos = 0
    while True:
        pos = head.find(b"strh", pos)
        if pos < 0 or pos + 8 + 36 > len(head):
            return None
        body = head[pos + 8 :]
        if body[:4] == b"vids":
            # AVISTREAMHEADER: fccType, fccHandler, dwFlags, wPriority+wLanguage,
            # dwInitialFrames, dwScale, dwRate, dwStart, dwLength
            (length,) = struct.unpack_from("<I", body, 32)
            return int(length) or None
        pos += 4


def probe_container(path: Path | str, *, digest: bool = False) -> ContainerInfo:
    """Demux a video file without decoding: packets present, size, rate and header length.

    Parameters
    ----------
    path : path
        Video file.
    digest : bool
        Also digest the packets in the same demux pass (``ContainerInfo.packet_digest``).

    Raises
    ------
    FileNotFoundError
        If the file does not exist.
    FFmpegError
        If ffmpeg cannot read the container or finds no video stream; names the file.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"video file not found: {path}")
    output = _DIGEST_ARGS if digest else ["-c", "copy", "-f", "null"]
    out, err = run_ffmpeg_output(["-v", "info", "-i", str(path), "-map", "0:v:0", *output, "-"], path=path)
    stream = _STREAM_RE.search(err)
    if stream is None:
        raise FFmpegError(f"no video stream found in {path}")
    codec, width, height = stream.group(2), int(stream.group(3)), int(stream.group(4))
    line = err[stream.start() : err.find("\n", stream.start())]
    fps_match = _FPS_RE.search(line)
    fps = float(fps_match.group(1)) if fps_match else float("nan")
    frames = _FRAME_RE.findall(err)
    n_packets = int(frames[-1]) if frames else 0
    header_frames: int | None = None
    tolerance = 0
    avi = avi_header_frames(path)
    if avi is not None:
        header_frames = avi
    elif fps == fps and fps > 0:
        # Only the input's part of the log (before "Stream mapping") describes the file.
        input_log = err.split("Stream mapping")[0]
        tag = _TAG_DURATION_RE.search(input_log)
        summary = _DURATION_RE.search(input_log)
        if tag is not None:
            header_frames = round(_seconds(tag) * fps)
            tolerance = 1
        elif summary is not None:
            header_frames = round(_seconds(summary) * fps)
            tolerance = int(0.01 * fps) + 1
    sha = streamhash_digest(out) if digest else None
    if digest and sha is None:
        raise FFmpegError(f"no packet digest for {path}: ffmpeg wrote {out[:200]!r}")
    return ContainerInfo(n_packets, fps, width, height, codec, header_frames, tolerance, sha)


def streamhash_digest(output: bytes) -> str | None:
    """The hexadecimal SHA-256 in the output of :data:`PACKET_DIGEST_OPTIONS` (one stream),
    or None if there is none."""
    m = re.search(rb"=([0-9a-fA-F]{64})\s*$", output)
    return None if m is None else m.group(1).decode().lower()


def packet_digest(path: Path | str) -> str:
    """Digest of the first video stream's packets in ``path`` (demuxed, not decoded).

    See :data:`PACKET_DIGEST_OPTIONS`; equal digests mean a decoder receives the same bytes,
    whatever the container. Returns the hexadecimal SHA-256. Errors as :func:`probe_container`.
    """
    return probe_container(path, digest=True).packet_digest
