"""One canonical source (YAML + Markdown) published as PDF, EPUB 3 and HTML.

Stages, in the order data flows through them:

``source``  load and validate a publication folder, parse its Markdown once
``model``   the document model the renderers share (metadata, outline, body)
``render``  one module per format, each returns bytes
``check``   one reader per format, compares a finished file with the source
``editions`` immutable, checksummed archive of released editions
"""

__version__ = "0.1.0"
