"""reactface_ros: thin ROS 2 adapters (nodes, message conversion, bag tools) over reactface_core.

The generated message modules (`reactface_ros.msg`) may live in another directory than
this source package (pip/venv install: the venv's site-packages; colcon: the same
directory). Extending `__path__` lets both halves of the package be found either way.
"""

from pkgutil import extend_path

__path__ = extend_path(__path__, __name__)
