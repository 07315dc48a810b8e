"""Recognition of licence and ID-card images (tesserocr).

Built by the OCR issue; this package has no code yet.
"""
