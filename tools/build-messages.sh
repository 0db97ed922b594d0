#!/usr/bin/env bash
# Build msg/ into a venv with CMake + rosidl from the ROS 2 PyPI wheels.
#   usage: tools/build-messages.sh VENV
# The wheels' exported CMake files hard-code the Python and NumPy include directories of
# the machine that built them (/opt/python/cp311-cp311/...); point them at this venv's
# before CMake runs. Idempotent: a rewritten file no longer matches.
set -euo pipefail
venv=$(cd "$1" && pwd)
python="$venv/bin/python"
# Skip the ROS wheels' re-exec bootstrap: this is a build, not a ROS process.
export _ROS_WHEELS_BOOTSTRAP_COMPLETE=1
python_include=$("$python" -c "import sysconfig; print(sysconfig.get_paths()['include'])")
numpy_include=$("$python" -c "import numpy; print(numpy.get_include())")
{ grep -rl --include='*.cmake' "/opt/python/cp311-cp311" "$venv/share" 2>/dev/null || true; } \
    | xargs -r sed -i \
        -e "s#/opt/python/cp311-cp311/include/python3.11#$python_include#g" \
        -e "s#/opt/python/cp311-cp311/lib/python3.11/site-packages/numpy/_core/include#$numpy_include#g"
build=build/messages
mkdir -p build
cmake -S . -B "$build" -Wno-dev \
    -DCMAKE_BUILD_TYPE=Release \
    -DCMAKE_PREFIX_PATH="$venv" \
    -DCMAKE_INSTALL_PREFIX="$venv" \
    -DPython3_EXECUTABLE="$python" \
    -DREACTFACE_MESSAGES_ONLY=ON \
    -DBUILD_TESTING=OFF >"$build.log" 2>&1 || { cat "$build.log"; exit 1; }
cmake --build "$build" -j "$(nproc)" >>"$build.log" 2>&1 || { tail -50 "$build.log"; exit 1; }
cmake --install "$build" >>"$build.log" 2>&1 || { tail -50 "$build.log"; exit 1; }
"$python" -c "from reactface_ros.msg import AudioChunk, FaceCoefficients, ReactionWindow"
echo "messages: built into $venv"
