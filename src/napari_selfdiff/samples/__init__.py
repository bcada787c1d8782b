"""Synthetic sample cases: the camera demo (:mod:`.camera`) and a widefield stack (:mod:`.widefield`)."""
