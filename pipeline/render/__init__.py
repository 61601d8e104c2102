"""One renderer per format. Each takes a ``Publication`` and a ``Design``
(the project's templates) and returns the finished file as bytes."""
