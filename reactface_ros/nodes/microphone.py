"""microphone node: sounddevice (PortAudio) capture -> reactface_ros/AudioChunk.

Publishes audio/chunk: `chunk_ms` of float32 samples at the device's rate (or
`sample_rate`), interleaved channels, stamped with the capture time of the first sample.
The reaction node resamples to 16 kHz mono. With no input device (or no PortAudio) the
node prints what it found and exits with status 1.
"""

from __future__ import annotations

import sys

from diagnostic_msgs.msg import DiagnosticStatus
from rclpy.duration import Duration
from rclpy.node import Node

from reactface_core import contract
from reactface_ros.convert import audio_to_message
from reactface_ros.msg import AudioChunk
from reactface_ros.nodes.common import (
    AUDIO_QOS,
    DIAGNOSTICS_PERIOD,
    Diagnostics,
    NodeStartupError,
    Param,
    declare,
    run,
)

PARAMS = [
    Param("device", "", "input device index or (part of a) name; empty: the system default input"),
    Param("sample_rate", 0, "capture rate in Hz; 0: the device's default rate", range=(0, 192_000)),
    Param("channels", 1, "channels to capture (published interleaved)", range=(1, 32)),
    Param("chunk_ms", 20.0, "audio per message in milliseconds", range=(5.0, 1000.0)),
    Param("frame_id", "microphone", "frame_id of the published chunks", live=True),
    DIAGNOSTICS_PERIOD,
]


def find_input_device(device: str):
    """The sounddevice input device for `device` ('' = default). Raises NodeStartupError."""
    try:
        import sounddevice
    except OSError as error:  # the Python package is there but PortAudio is not
        raise NodeStartupError(
            f"cannot use the microphone: PortAudio is missing ({error}); install libportaudio2"
        ) from None
    devices = sounddevice.query_devices()
    inputs = [d for d in devices if d["max_input_channels"] > 0]
    if not inputs:
        raise NodeStartupError(
            "no audio input device found (sounddevice lists "
            f"{len(devices)} device(s), none with input channels); connect a microphone or "
            "run without it (use_microphone:=false)"
        )
    try:
        selector = int(device) if device.isdigit() else (device or None)
        info = sounddevice.query_devices(selector, kind="input")
    except (ValueError, sounddevice.PortAudioError) as error:
        names = ", ".join(f"{d['index']}: {d['name']}" for d in inputs)
        raise NodeStartupError(
            f"audio input device {device or '(default)'!r} not usable: {error}; inputs: {names}"
        ) from None
    return sounddevice, info


class MicrophoneNode(Node):
    def __init__(self, **kwargs):
        super().__init__("microphone", **kwargs)
        self.p = declare(self, PARAMS, self._apply)
        sounddevice, info = find_input_device(self.p["device"])
        rate = self.p["sample_rate"] or int(info["default_samplerate"])
        channels = self.p["channels"]
        if channels > info["max_input_channels"]:
            raise NodeStartupError(
                f"device {info['name']!r} has {info['max_input_channels']} input channel(s), "
                f"{channels} requested"
            )
        self.rate = rate
        self.counts = {"chunks_published": 0, "overflows": 0}
        self.publisher = self.create_publisher(AudioChunk, contract.AUDIO_TOPIC, AUDIO_QOS)
        self.diagnostics = Diagnostics(self, self.p["diagnostics_period"], self._diagnose)
        try:
            self.stream = sounddevice.InputStream(
                device=info["index"],
                samplerate=rate,
                channels=channels,
                dtype="float32",
                blocksize=max(1, round(rate * self.p["chunk_ms"] / 1000)),
                callback=self._on_audio,
            )
            self.stream.start()
        except sounddevice.PortAudioError as error:
            raise NodeStartupError(f"cannot open {info['name']!r} at {rate} Hz: {error}") from None
        self.get_logger().info(f"ready: {info['name']} at {rate} Hz, {channels} channel(s)")

    def _apply(self, changes: dict) -> None:
        if "diagnostics_period" in changes:
            self.diagnostics.set_period(changes["diagnostics_period"])

    def _on_audio(self, samples, frames, time_info, status) -> None:
        """PortAudio thread: stamp = now - how long ago the first sample was captured."""
        if status.input_overflow:
            self.counts["overflows"] += 1
        age = max(0.0, self.stream.time - time_info.inputBufferAdcTime) if time_info else 0.0
        stamp = self.get_clock().now() - Duration(nanoseconds=int(age * 1e9))
        msg = audio_to_message(samples, self.rate, stamp.nanoseconds)
        msg.header.frame_id = self.p["frame_id"]
        self.publisher.publish(msg)
        self.counts["chunks_published"] += 1

    def _diagnose(self):
        level = DiagnosticStatus.WARN if self.counts["overflows"] else DiagnosticStatus.OK
        message = "input overflows (audio lost)" if self.counts["overflows"] else "ok"
        return level, message, {**self.counts, "sample_rate": self.rate}

    def close(self) -> None:
        self.stream.stop()
        self.stream.close()


def main(args: list[str] | None = None) -> int:
    return run(MicrophoneNode, args)


if __name__ == "__main__":
    sys.exit(main())
