"""reactface_core: multiple appropriate facial reaction generation (ReactFace), ROS-free.

Everything a robot, a researcher or a test needs without ROS lives here: face models and
renderers, REACT-format data and the synthetic dyadic world, the ReactFace model with its
online generator, losses, training, REACT metrics and speaker perception.
"""

__version__ = "0.1.0"
