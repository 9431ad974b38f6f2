"""The workshop machinery: step files, the output rule, per-step checks, challenges and their CLI."""
