"""The runtime contract: the numbers and names every part of reactface agrees on.

Every module that needs one of these imports it from here; none writes its own copy.

Time and audio
    FPS                    speaker and listener frames per second (REACT records at 25 fps)
    AUDIO_RATE             Hz of the audio the model hears (any input rate is resampled)
    AUDIO_STEPS_PER_FRAME  k: audio feature steps per video frame (the paper's k = 2, 20 ms hop)
    SAMPLES_PER_FRAME      AUDIO_RATE / FPS = 640: frame i owns audio samples
                           [640 i, 640 (i + 1)) and audio steps k i .. k i + k - 1

Topics (relative names; a node's namespace and remappings place them)
    CAMERA_TOPIC           sensor_msgs/Image in; sensor_msgs/CompressedImage on
                           CAMERA_TOPIC + COMPRESSED_SUFFIX
    AUDIO_TOPIC            reactface_ros/AudioChunk in
    AUDIO_COMMON_TOPIC     audio_common_msgs/AudioDataStamped in (the audio_common bridge),
    AUDIO_COMMON_INFO_TOPIC  and its audio_common_msgs/AudioInfo (format, rate, channels)
    REACTION_TOPIC         reactface_ros/ReactionWindow out: all N samples of a window
    FACE_TOPIC             reactface_ros/FaceCoefficients out: the selected sample at FPS
    FACE_LAYOUT_TOPIC      reactface_ros/FaceLayout out, latched: names and ranges of its values
    FACE_IMAGE_TOPIC       sensor_msgs/Image out: the rendered face (rgb8)
    DIAGNOSTICS_TOPIC      diagnostic_msgs/DiagnosticArray out (absolute, as ROS tools expect)

Data contracts (the numbered "contract N" that module docstrings cite)
    1  raw landmarks: (T, 468, 3) MediaPipe face-mesh points per frame at FPS, x and y in
       [0, 1] of the image width and height (y down), z a relative depth in units of x;
       NaN rows where no face was found (`perception.face_tracker`, the synthetic camera)
    2  speaker visual features: (T, D_v) from raw landmarks by the stateful
       `perception.landmarks.SpeakerFeatures`, one per session from its first frame (its
       docstring defines the columns; checkpoints record its FEATURE_VERSION)
    3  speaker audio features: (k T, D_a) from AUDIO_RATE mono by the stateful
       `perception.audio.StreamingAudioFeatures` (log-mel and prosody against the
       speaker's running baseline), one per session from its first sample (its docstring
       defines the columns; checkpoints record its AUDIO_FEATURE_VERSION)
    4  listener reactions: (T, D) face-model coefficients at FPS (`face.models`)
    5  training items: the dict of `data.dataset.ReactDataset` (its docstring)
"""

from __future__ import annotations

FPS = 25
AUDIO_RATE = 16_000
AUDIO_STEPS_PER_FRAME = 2
SAMPLES_PER_FRAME = AUDIO_RATE // FPS
FRAME_NS = 1_000_000_000 // FPS

CAMERA_TOPIC = "camera/image_raw"
COMPRESSED_SUFFIX = "/compressed"
AUDIO_TOPIC = "audio/chunk"
AUDIO_COMMON_TOPIC = "audio/audio_stamped"  # audio_common's capture node, in namespace audio
AUDIO_COMMON_INFO_TOPIC = "audio/audio_info"
REACTION_TOPIC = "reactface/reaction"
FACE_TOPIC = "reactface/face"
FACE_LAYOUT_TOPIC = "reactface/face_layout"
FACE_IMAGE_TOPIC = "reactface/face_image"
DIAGNOSTICS_TOPIC = "/diagnostics"


def absolute(topic: str) -> str:
    """The topic as seen from the root namespace ("camera/image_raw" -> "/camera/image_raw")."""
    return topic if topic.startswith("/") else "/" + topic
