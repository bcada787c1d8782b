"""Images in and out, keeping axes, pixel size and provenance.

:mod:`.formats` reads and writes by suffix (TIFF with :mod:`.tiff`, PNG/JPEG/BMP with
:mod:`.photo`); :mod:`.tiff_series` lists every series of a TIFF for viewers; :mod:`.outputs`
plans a run's outputs before any work and commits them together; :mod:`.common` holds the
atomic writes and the safe JSON they share.
"""
