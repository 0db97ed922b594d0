#!/usr/bin/env bash
# Install the Debian packages reactface needs, only those that are missing.
#   libportaudio2                          microphone node (sounddevice)
#   libegl1 libegl-mesa0 libgl1-mesa-dri   offscreen EGL rendering (moderngl)
#   cmake g++                              building the ROS 2 messages from msg/
#   python3-venv                           `python3 -m venv` on a Debian system Python
#   espeak-ng                              real speech for the synthetic world and the test clips
set -euo pipefail
packages=(libportaudio2 libegl1 libegl-mesa0 libgl1-mesa-dri cmake g++ espeak-ng)
if ! "${PYTHON:-python3}" -c "import ensurepip, venv" 2>/dev/null; then
    packages+=(python3-venv)
fi
missing=()
for package in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" \
        || missing+=("$package")
done
[ ${#missing[@]} -eq 0 ] && exit 0
echo "apt: installing ${missing[*]}"
sudo=""
if [ "$(id -u)" -ne 0 ]; then
    command -v sudo >/dev/null || { echo "need root or sudo to install: ${missing[*]}" >&2; exit 1; }
    sudo="sudo"
fi
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
$sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
