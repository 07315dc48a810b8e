"""Recognition of licence and ID-card images (tesserocr).

``Recogniser(...).recognise(data)`` (or ``.submit(data)`` for a future) reads
a JPEG, PNG or BMP image or a PDF and returns one result shape::

    {"type": KIND, "confidence": 0.0-1.0,
     "fields": {KEY: {"value": ..., "confidence": ..., "box": [x0, y0, x1, y1]}}}

Modules: :mod:`~ocr_service.loading` (format by content, limits),
:mod:`~ocr_service.preprocess` (scale, deskew, binarise),
:mod:`~ocr_service.engine` (one reused Tesseract per worker),
:mod:`~ocr_service.classify` and :mod:`~ocr_service.fields` (kind and fields),
:mod:`~ocr_service.normalise` (dates, terms, checked codes),
:mod:`~ocr_service.glyphs` (doubtful Chinese characters told by their shape),
:mod:`~ocr_service.fonts` (the machine's Noto CJK faces),
:mod:`~ocr_service.service` (worker pool), :mod:`~ocr_service.samples`
(the evaluation set) and :mod:`~ocr_service.cli` (``shouying ocr``).
Failures are :class:`~ocr_service.errors.OcrError` with a stable ``code``.
"""
