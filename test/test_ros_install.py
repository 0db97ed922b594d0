"""The venv install (`make`) has the ROS layout `ros2 run` / `ros2 launch` look for, and
package.xml declares every third-party module the package imports.

`ament_index_python` finds the package through AMENT_PREFIX_PATH, which the venv's
reactface_ros-ament.pth sets to the venv for every Python process started from it.
"""

from __future__ import annotations

import ast
import os
import subprocess
import sys
import xml.etree.ElementTree as ElementTree
from pathlib import Path

import pytest

from reactface_ros.launch_config import NODES, PACKAGE

ROOT = Path(__file__).resolve().parents[1]

# import name -> the package.xml dependency (rosdep key) that brings it
MODULE_KEYS = {
    "numpy": "python3-numpy",
    "scipy": "python3-scipy",
    "yaml": "python3-yaml",
    "cv2": "python3-opencv",
    "torch": "python3-torch",
    "tqdm": "python3-tqdm",
    "matplotlib": "python3-matplotlib",
    "PIL": "python3-pil",
    "skimage": "python3-skimage",
    "soundfile": "python3-soundfile",
    "mediapipe": "python3-mediapipe-pip",
    "sounddevice": "python3-sounddevice-pip",
    "transformers": "python3-transformers-pip",
    "moderngl": "python3-moderngl-pip",
    "rosbags": "python3-rosbags-pip",
    "mcap": "python3-mcap-pip",
    "av": "python3-av-pip",
    "rclpy": "rclpy",
    "rcl_interfaces": "rcl_interfaces",
    "builtin_interfaces": "builtin_interfaces",
    "sensor_msgs": "sensor_msgs",
    "diagnostic_msgs": "diagnostic_msgs",
    "launch": "launch",
    "launch_ros": "launch_ros",
    "ament_index_python": "ament_index_python",
    "audio_common_msgs": "audio_common_msgs",
    "tslearn": "python3-tslearn-pip",
}
# Imported only where the official code is compared with ours (a benchmark, a test): a test
# dependency, never needed at run time.
TEST_ONLY = {"tslearn"}


def installed_prefix() -> Path:
    """The ament prefix reactface_ros is installed in, found as `ros2` finds it."""
    from ament_index_python.packages import PackageNotFoundError, get_package_prefix

    try:
        return Path(get_package_prefix(PACKAGE))
    except (PackageNotFoundError, OSError) as error:
        pytest.skip(f"reactface_ros is not installed in an ament prefix ({error}); run make")


def test_the_venv_is_an_ament_prefix_with_the_package_in_it():
    assert os.environ.get("AMENT_PREFIX_PATH"), "the venv's .pth sets it"
    from ament_index_python.packages import get_package_share_directory

    prefix = installed_prefix()
    share = Path(get_package_share_directory(PACKAGE))
    assert (prefix / "share" / "ament_index" / "resource_index" / "packages" / PACKAGE).is_file()
    assert (share / "package.xml").is_file()
    assert (share / "launch" / "reactface.launch.py").resolve().read_text() == (
        ROOT / "launch" / "reactface.launch.py"
    ).read_text()
    assert (share / "config" / "reactface.yaml").resolve().read_text() == (
        ROOT / "config" / "reactface.yaml"
    ).read_text()


def test_every_node_is_an_installed_executable_as_ros2_pkg_executables_lists_them():
    executables = installed_prefix() / "lib" / PACKAGE
    found = sorted(p.name for p in executables.iterdir() if os.access(p, os.X_OK))
    assert found == sorted(spec.executable for spec in NODES)
    for name in found:  # the interpreter the package was built for, as colcon writes it
        first_line = (executables / name).read_text().splitlines()[0]
        assert Path(first_line.removeprefix("#!")).samefile(sys.executable), first_line


@pytest.mark.parametrize("spec", NODES, ids=lambda spec: spec.executable)
def test_each_installed_executable_runs_and_explains_itself(spec):
    executable = installed_prefix() / "lib" / PACKAGE / spec.executable
    result = subprocess.run(
        [str(executable), "--help"], capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    assert f"ros2 run reactface_ros {spec.executable}" in result.stdout
    for name, param in spec.params().items():
        assert f"  {name} (" in result.stdout and param.description[:40] in result.stdout
    wrong = subprocess.run([str(executable), "--sample", "3"], capture_output=True, text=True)
    assert wrong.returncode == 2 and "parameters go after --ros-args" in wrong.stderr


def imported_modules() -> dict[str, str]:
    """Top-level third-party modules imported anywhere in the package -> one file importing it."""
    files = [
        *(ROOT / "reactface_core").rglob("*.py"),
        *(ROOT / "reactface_ros").rglob("*.py"),
        *(ROOT / "launch").glob("*.py"),
        *(ROOT / "scripts").iterdir(),
    ]
    modules = {}
    for path in files:
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0:
                names = [node.module]
            else:
                continue
            for name in names:
                top = name.split(".")[0]
                if top not in sys.stdlib_module_names and top not in (
                    "__future__",
                    "reactface_core",
                    "reactface_ros",
                ):
                    modules.setdefault(top, str(path.relative_to(ROOT)))
    return modules


def test_package_xml_declares_every_third_party_module_the_package_imports():
    manifest = ElementTree.parse(ROOT / "package.xml").getroot()
    declared = {element.text for tag in ("depend", "exec_depend") for element in manifest.iter(tag)}
    test_declared = {element.text for element in manifest.iter("test_depend")}
    modules = imported_modules()
    assert {"torch", "mediapipe", "rclpy", "cv2"} <= set(modules)  # the scan works
    for module, path in sorted(modules.items()):
        key = MODULE_KEYS.get(module)
        assert key is not None, f"{path} imports {module}: add its rosdep key to MODULE_KEYS"
        if module in TEST_ONLY:
            assert key in test_declared, (
                f"{path} imports {module}: add <test_depend>{key}</test_depend>"
            )
        else:
            assert key in declared, f"{path} imports {module}: add <exec_depend>{key}</exec_depend>"
