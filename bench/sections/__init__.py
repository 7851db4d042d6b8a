"""The benchmark's sections, one module each (``common`` holds what they share); ``bench/run.py``
parses the arguments and runs them."""
