"""Dependencies point one way: reactface_core never imports ROS (nor reactface_ros)."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import reactface_core

ROS_MODULES = (
    "rclpy",
    "rcl_interfaces",
    "rosidl_runtime_py",
    "builtin_interfaces",
    "std_msgs",
    "sensor_msgs",
    "diagnostic_msgs",
    "lifecycle_msgs",
    "launch",
    "launch_ros",
    "rosbags",
    "reactface_ros",
)
CORE = Path(reactface_core.__file__).parent


def _imported(tree: ast.AST):
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            yield node.module


def test_no_core_source_file_imports_ros():
    offenders = [
        f"{path.relative_to(CORE.parent)}: {name}"
        for path in sorted(CORE.rglob("*.py"))
        for name in _imported(ast.parse(path.read_text(), str(path)))
        if name.split(".")[0] in ROS_MODULES
    ]
    assert offenders == []


def test_importing_every_core_module_loads_no_ros_module():
    """Also catches imports made indirectly (a core module importing a library that does)."""
    script = f"""
import importlib, pkgutil, sys
import reactface_core
for module in pkgutil.walk_packages(reactface_core.__path__, "reactface_core."):
    if not module.name.endswith("__main__"):
        importlib.import_module(module.name)
loaded = sorted(m for m in sys.modules if m.split(".")[0] in {ROS_MODULES!r})
print("\\n".join(loaded))
"""
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.split() == []
