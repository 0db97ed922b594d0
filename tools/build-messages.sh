#!/usr/bin/env bash
# Build msg/ into a venv with CMake + rosidl from the ROS 2 PyPI wheels, and install the
# ROS layout there (node executables, launch file, config, ament index): see CMakeLists.txt.
#   usage: tools/build-messages.sh VENV [PACKAGE_DIR PREFIX]
# PACKAGE_DIR (default: this repository) is built and installed into PREFIX (default:
# VENV); the tests build the audio_common_msgs interface this way in a temporary folder.
# The wheels' exported CMake files hard-code the Python and NumPy include directories of
# the machine that built them (/opt/python/cp311-cp311/...); point them at this venv's
# before CMake runs. Idempotent: a rewritten file no longer matches.
set -euo pipefail
venv=$(cd "$1" && pwd)
python="$venv/bin/python"
# Skip the ROS wheels' re-exec bootstrap: this is a build, not a ROS process.
export _ROS_WHEELS_BOOTSTRAP_COMPLETE=1
# The venv's ament index (typesupports, std_msgs) when installing into another prefix.
export AMENT_PREFIX_PATH="$venv${AMENT_PREFIX_PATH:+:$AMENT_PREFIX_PATH}"
python_include=$("$python" -c "import sysconfig; print(sysconfig.get_paths()['include'])")
numpy_include=$("$python" -c "import numpy; print(numpy.get_include())")
{ grep -rl --include='*.cmake' "/opt/python/cp311-cp311" "$venv/share" 2>/dev/null || true; } \
    | xargs -r sed -i \
        -e "s#/opt/python/cp311-cp311/include/python3.11#$python_include#g" \
        -e "s#/opt/python/cp311-cp311/lib/python3.11/site-packages/numpy/_core/include#$numpy_include#g"
source=${2:-.}
prefix=${3:-$venv}
if [ "$source" = . ]; then build=build/messages; else build="$prefix/build"; fi
mkdir -p "$(dirname "$build")"
cmake -S "$source" -B "$build" -Wno-dev \
    -DCMAKE_BUILD_TYPE=Release \
    -DCMAKE_PREFIX_PATH="$venv" \
    -DCMAKE_INSTALL_PREFIX="$prefix" \
    -DPython3_EXECUTABLE="$python" \
    -DREACTFACE_VENV=ON \
    -DBUILD_TESTING=OFF >"$build.log" 2>&1 || { cat "$build.log"; exit 1; }
cmake --build "$build" -j "$(nproc)" >>"$build.log" 2>&1 || { tail -50 "$build.log"; exit 1; }
cmake --install "$build" >>"$build.log" 2>&1 || { tail -50 "$build.log"; exit 1; }
if [ "$source" = . ]; then
    "$python" -c "from reactface_ros.msg import AudioChunk, FaceCoefficients, FaceLayout, ReactionWindow"
fi
echo "messages: $source built into $prefix"
