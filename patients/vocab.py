"""Clinical vocabulary shared by treatments and photos, in the clinic's own words, in one
place: treatment types, facial areas, photo stages and views. (``photos.models`` re-exports
Stage and View for its callers; they are defined here only.)"""

from django.db import models


class TreatmentType(models.TextChoices):
    TOXIN = "toxin", "Botulinum toxin"
    FILLER = "filler", "Dermal filler"
    SKIN_BOOSTER = "skin_booster", "Skin booster"
    PEEL = "peel", "Chemical peel"
    MICRONEEDLING = "microneedling", "Microneedling"
    LASER = "laser", "Laser / light"
    THREADS = "threads", "PDO threads"
    FAT_DISSOLVING = "fat_dissolving", "Fat dissolving"
    OTHER = "other", "Other"


class FacialArea(models.TextChoices):
    FOREHEAD = "forehead", "Forehead"
    GLABELLA = "glabella", "Glabella (frown lines)"
    CROWS_FEET = "crows_feet", "Crow's feet"
    TEAR_TROUGH = "tear_trough", "Tear trough"
    CHEEKS = "cheeks", "Cheeks"
    NOSE = "nose", "Nose"
    NASOLABIAL = "nasolabial", "Nasolabial folds"
    LIPS = "lips", "Lips"
    PERIORAL = "perioral", "Perioral lines"
    MARIONETTE = "marionette", "Marionette lines"
    CHIN = "chin", "Chin"
    JAWLINE = "jawline", "Jawline"
    NECK = "neck", "Neck"
    FULL_FACE = "full_face", "Full face"


class Stage(models.TextChoices):
    BEFORE = "before", "Before"
    AFTER = "after", "After"
    FOLLOW_UP = "follow_up", "Follow-up"


class View(models.TextChoices):
    FRONT = "front", "Front"
    LEFT_45 = "left_45", "Left 45°"
    LEFT_90 = "left_90", "Left 90° (profile)"
    RIGHT_45 = "right_45", "Right 45°"
    RIGHT_90 = "right_90", "Right 90° (profile)"
    CHIN_UP = "chin_up", "Chin up"
    CLOSE_UP = "close_up", "Close-up"
