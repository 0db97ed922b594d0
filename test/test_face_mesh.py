"""Canonical face mesh: built from mediapipe's tessellation and landmarks, cached, symmetric."""

from __future__ import annotations

import numpy as np
import pytest

from reactface_core.face import mesh as face_mesh
from reactface_core.face.mesh import canonical_mesh


@pytest.fixture(scope="module")
def mesh():
    return canonical_mesh()


def test_shapes_and_convention(mesh):
    v = mesh.vertices
    assert v.shape == (468, 3) and v.dtype == np.float32
    assert mesh.triangles.shape == (852, 3) and mesh.triangles.dtype == np.int32
    assert not v.flags.writeable
    np.testing.assert_allclose(v.mean(0), 0.0, atol=1e-6)  # centred
    biocular = np.linalg.norm(v[face_mesh.EYE_OUTER_LEFT] - v[face_mesh.EYE_OUTER_RIGHT])
    assert biocular == pytest.approx(face_mesh.BIOCULAR_WIDTH_M, rel=1e-5)  # metres
    assert v[face_mesh.EYE_OUTER_LEFT, 0] > 0.03  # x to the subject's left
    assert v[face_mesh.FOREHEAD, 1] > 0.05 > -0.05 > v[face_mesh.CHIN, 1]  # y up
    assert np.argmax(v[:, 2]) in (face_mesh.NOSE_TIP, 4)  # z toward the camera
    assert 0.12 < np.ptp(v[:, 0]) < 0.16 and 0.13 < np.ptp(v[:, 1]) < 0.17  # face-sized


def test_mirror_is_an_exact_symmetry(mesh):
    mirror = mesh.mirror
    np.testing.assert_array_equal(mirror[mirror], np.arange(468))
    np.testing.assert_allclose(mesh.vertices[mirror] * [-1, 1, 1], mesh.vertices, atol=1e-7)
    assert len(mesh.midline) == 28
    np.testing.assert_allclose(mesh.vertices[mesh.midline, 0], 0.0, atol=1e-7)
    faces = {tuple(sorted(t)) for t in mesh.triangles.tolist()}
    assert {tuple(sorted(mirror[list(t)])) for t in faces} == faces
    for right, left in [
        (face_mesh.EYE_RIGHT, face_mesh.EYE_LEFT),
        (face_mesh.BROW_RIGHT, face_mesh.BROW_LEFT),
    ]:
        assert set(mirror[list(right)]) == set(left)
    assert mirror[face_mesh.MOUTH_CORNER_RIGHT] == face_mesh.MOUTH_CORNER_LEFT


def test_surface_is_an_oriented_manifold_with_eye_and_mouth_openings(mesh):
    tri = mesh.triangles
    edges: dict[tuple[int, int], int] = {}
    for a, b, c in tri.tolist():
        for edge in ((a, b), (b, c), (c, a)):
            assert edge not in edges, "two faces traverse an edge the same way"
            edges[edge] = 1
    loops = mesh.boundary_loops()
    assert [len(loop) for loop in loops] == [36, 20, 16, 16]
    assert set(loops[0]) == set(face_mesh.FACE_OVAL)
    assert set(loops[1]) == set(face_mesh.LIPS_INNER)
    assert {frozenset(loops[2]), frozenset(loops[3])} == {
        frozenset(face_mesh.EYE_RIGHT),
        frozenset(face_mesh.EYE_LEFT),
    }
    a, b, c = (mesh.vertices[tri[:, k]] for k in range(3))
    normals_z = np.cross(b - a, c - a)[:, 2]
    assert (normals_z > 0).mean() > 0.8  # counter-clockwise seen from the camera


def test_cache_round_trip_is_deterministic(tmp_path, monkeypatch, mesh):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    assert face_mesh.cache_path() == tmp_path / "reactface" / "canonical_mesh_v2.npz"
    face_mesh._canonical_mesh.cache_clear()
    try:
        built = canonical_mesh()  # rebuilt from mediapipe into the empty cache
        assert face_mesh.cache_path().is_file()
        face_mesh._canonical_mesh.cache_clear()
        loaded = canonical_mesh()
    finally:
        face_mesh._canonical_mesh.cache_clear()
    np.testing.assert_array_equal(built.vertices, loaded.vertices)
    np.testing.assert_array_equal(built.triangles, mesh.triangles)
    np.testing.assert_allclose(built.vertices, mesh.vertices, atol=1e-6)
