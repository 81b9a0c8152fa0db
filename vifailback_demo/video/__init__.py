"""Video I/O with PyAV: reading and sampling (reader.py) and H.264 writing (writer.py).

Import from the submodules directly; this package file stays empty so that parallel work never collides here.
"""
