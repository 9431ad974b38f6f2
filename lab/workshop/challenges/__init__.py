"""One module per workshop step, ``sNN.py``, each defining ``CHALLENGE`` (lab.workshop.challenge)."""
