"""Raster tiles of a sheet for the viewer: Deep Zoom (DZI) pyramids and thumbnails."""
