"""napari integration: widgets, reader, writer and sample data.

The only package that imports napari, magicgui or Qt. Widgets stay thin: layers ->
arrays and a frozen config -> the engine's generator in a thread worker -> layers.
"""
