"""Shared fixtures: an isolated ROS 2 domain per test, kept on this machine."""

from __future__ import annotations

import os

import pytest


@pytest.fixture
def ros_domain(monkeypatch):
    """Give the test (and the processes it starts) a private ROS domain on loopback.

    Discovery stays on localhost and the domain id is derived from the pid, so tests never
    see other ROS graphs on the machine (nor each other's nodes). The test process uses the
    shipped Fast DDS profile, as every reactface process does.
    """
    from reactface_ros.launch_config import dds_environment

    domain = 1 + os.getpid() % 100
    monkeypatch.setenv("ROS_DOMAIN_ID", str(domain))
    monkeypatch.setenv("ROS_AUTOMATIC_DISCOVERY_RANGE", "LOCALHOST")
    monkeypatch.delenv("ROS_STATIC_PEERS", raising=False)
    for key, value in dds_environment().items():
        monkeypatch.setenv(key, value)
    return domain
